import Testing
import TensorCore
import TestSupport

extension OpsTests {
    /// The folded first layer's kernels against naive loops in Double, at every SIMD level this
    /// CPU has. Widths: 1, 4 (a gate), 17 (a vector and a lane), 64 (one full block), 70 and 133
    /// (blocks and lane-masked tails); strides wider than the rows.
    @Suite struct FoldedLinearTests {
        static let widths = [1, 4, 17, 64, 70, 133]

        /// Units over `slots` rows of width d: some slots read by two units (two features).
        struct Units {
            var slot: [Int32], row0: [Int32]
            init(units: Int, slots: Int, d: Int, features: Int) {
                slot = (0..<units).map { Int32(($0 * 7) % slots) }
                row0 = (0..<units).map { Int32(($0 % features) * d) }
            }
        }

        /// Embedding widths: 5 (no group of eight weight rows), 8 (one group), 13 (a group and a
        /// tail), 16 (two groups).
        static let dimensions = [5, 8, 13, 16]

        @Test(arguments: SIMDLevel.available, FoldedLinearTests.dimensions)
        func `project matches a naive reference`(level: SIMDLevel, d: Int) {
            let (units, slots, features) = (11, 6, 3)
            let rows = randomTensor([slots, d], seed: 1).scalars
            let u = Units(units: units, slots: slots, d: d, features: features)
            for n in Self.widths {
                let ldw = n + 3, ldp = n + 2
                let w = randomTensor([features * d, ldw], seed: UInt64(n)).scalars
                var p = [Float](repeating: .nan, count: units * ldp)
                rows.withUnsafeBufferPointer { r in
                    w.withUnsafeBufferPointer { w in
                        p.withUnsafeMutableBufferPointer { p in
                            FoldedLinear.project(units: units, d: d, n: n, rows: r.baseAddress!, slot: u.slot, row0: u.row0,
                                                 weight: w.baseAddress!, weightStride: ldw, projection: p.baseAddress!,
                                                 projectionStride: ldp, level: level)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<units {
                    for c in 0..<n {
                        var s = 0.0
                        for k in 0..<d { s += Double(rows[Int(u.slot[i]) * d + k]) * Double(w[(Int(u.row0[i]) + k) * ldw + c]) }
                        worst = max(worst, abs(Double(p[i * ldp + c]) - s))
                    }
                    let padding = p[(i * ldp + n)..<(i * ldp + ldp)].allSatisfy { $0.isNaN }
                    #expect(padding, "n \(n): a store past column n")
                }
                #expect(worst <= 1e-4, "n \(n), d \(d): max error \(worst)")
            }
        }

        @Test(arguments: SIMDLevel.available)
        func `gather adds bias and every feature's unit`(level: SIMDLevel) {
            let (b, fields, units) = (9, 5, 13)
            let unit = (0..<(fields * b)).map { Int32(($0 * 5 + $0 / 3) % units) }
            for n in Self.widths {
                let ldp = n + 1, ldo = n + 4
                let p = randomTensor([units, ldp], seed: UInt64(n)).scalars
                let bias = randomTensor([n], seed: 3).scalars
                let start = randomTensor([b, ldo], seed: 4).scalars
                for withBias in [true, false] {
                    var out = start
                    p.withUnsafeBufferPointer { p in
                        bias.withUnsafeBufferPointer { c in
                            out.withUnsafeMutableBufferPointer { o in
                                FoldedLinear.gather(rows: b, fields: fields, n: n, projection: p.baseAddress!, projectionStride: ldp,
                                                    unit: unit, bias: withBias ? c.baseAddress! : nil, output: o.baseAddress!,
                                                    outputStride: ldo, level: level)
                            }
                        }
                    }
                    var worst = 0.0
                    for r in 0..<b {
                        for c in 0..<ldo {
                            var s = Double(start[r * ldo + c])
                            if c < n {
                                if withBias { s += Double(bias[c]) }
                                for f in 0..<fields { s += Double(p[Int(unit[f * b + r]) * ldp + c]) }
                            }
                            worst = max(worst, abs(Double(out[r * ldo + c]) - s))  // columns ≥ n untouched
                        }
                    }
                    #expect(worst <= 1e-5, "n \(n) bias \(withBias): max error \(worst)")
                }
            }
        }

        /// Units of 0 (none), 1, 2 and many members: the odd member of the two-at-a-time loop.
        @Test(arguments: SIMDLevel.available)
        func `sum adds each unit's member rows`(level: SIMDLevel) {
            let b = 10
            let memberCounts = [0, 1, 2, 3, 9, 1]
            var offsets: [Int32] = [0], members: [Int32] = []
            for (u, count) in memberCounts.enumerated() {
                members += (0..<count).map { Int32(($0 * 3 + u) % b) }
                offsets.append(Int32(members.count))
            }
            let units = memberCounts.count
            for n in Self.widths {
                let ldy = n + 2, lds = n + 1
                let dy = randomTensor([b, ldy], seed: UInt64(n)).scalars
                var s = [Float](repeating: .nan, count: units * lds)
                dy.withUnsafeBufferPointer { dy in
                    s.withUnsafeMutableBufferPointer { s in
                        FoldedLinear.sum(units: units, n: n, dOutput: dy.baseAddress!, dOutputStride: ldy, offsets: offsets,
                                         members: members, sums: s.baseAddress!, sumsStride: lds, level: level)
                    }
                }
                var worst = 0.0
                for u in 0..<units {
                    for c in 0..<n {
                        var e = 0.0
                        for i in Int(offsets[u])..<Int(offsets[u + 1]) { e += Double(dy[Int(members[i]) * ldy + c]) }
                        worst = max(worst, abs(Double(s[u * lds + c]) - e))
                    }
                    let padding = s[(u * lds + n)..<(u * lds + lds)].allSatisfy { $0.isNaN }
                    #expect(padding, "n \(n): a store past column n")
                }
                #expect(worst <= 1e-5, "n \(n): max error \(worst)")
            }
        }

        @Test(arguments: SIMDLevel.available, FoldedLinearTests.dimensions)
        func `backproject accumulates weight and row gradients`(level: SIMDLevel, d: Int) {
            let (units, slots, features) = (11, 6, 3)
            let rows = randomTensor([slots, d], seed: 8).scalars
            let u = Units(units: units, slots: slots, d: d, features: features)
            for n in Self.widths {
                let ldw = n + 3, lds = n + 2
                let w = randomTensor([features * d, ldw], seed: UInt64(n)).scalars
                let s = randomTensor([units, lds], seed: UInt64(n + 1)).scalars
                let dw0 = randomTensor([features * d, ldw], seed: 5).scalars, dr0 = randomTensor([slots, d], seed: 6).scalars
                var dw = dw0, dr = dr0
                rows.withUnsafeBufferPointer { r in
                    w.withUnsafeBufferPointer { w in
                        s.withUnsafeBufferPointer { s in
                            dw.withUnsafeMutableBufferPointer { dw in
                                dr.withUnsafeMutableBufferPointer { dr in
                                    FoldedLinear.backproject(units: units, d: d, n: n, rows: r.baseAddress!, slot: u.slot, row0: u.row0,
                                                             sums: s.baseAddress!, sumsStride: lds, weight: w.baseAddress!, weightStride: ldw,
                                                             dWeight: dw.baseAddress!, dRows: dr.baseAddress!, level: level)
                                }
                            }
                        }
                    }
                }
                var expectedW = dw0.map(Double.init), expectedR = dr0.map(Double.init)
                for i in 0..<units {
                    let slot = Int(u.slot[i]), row0 = Int(u.row0[i])
                    for k in 0..<d {
                        for c in 0..<n {
                            expectedW[(row0 + k) * ldw + c] += Double(rows[slot * d + k]) * Double(s[i * lds + c])
                            expectedR[slot * d + k] += Double(s[i * lds + c]) * Double(w[(row0 + k) * ldw + c])
                        }
                    }
                }
                let worstW = zip(dw, expectedW).map { abs(Double($0) - $1) }.max()!
                let worstR = zip(dr, expectedR).map { abs(Double($0) - $1) }.max()!
                #expect(worstW <= 1e-4 && worstR <= 1e-4, "n \(n), d \(d): max error dW \(worstW), dRows \(worstR)")
            }
        }
    }
}
