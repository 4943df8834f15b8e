import Foundation
import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct GateMixtureTests {
        struct Shape: Sendable, CustomTestStringConvertible {
            var batch: Int, experts: Int, hidden: Int
            var testDescription: String { "B=\(batch) E=\(experts) H=\(hidden)" }
        }

        static let shapes: [Shape] = [
            Shape(batch: 1, experts: 1, hidden: 1),
            Shape(batch: 1, experts: 3, hidden: 7),
            Shape(batch: 7, experts: 4, hidden: 13),
            Shape(batch: 13, experts: 2, hidden: 5),
            Shape(batch: 5, experts: 3, hidden: 24),  // whole 8-lane blocks only
        ]

        static func apply(_ gate: Tensor, _ experts: Tensor) -> Tensor {
            var f = OpsFixtures.garbage([gate.rows, experts.shape[2]])
            GateMixture.forward(gate: gate, experts: experts, output: &f)
            return f
        }

        @Test(arguments: [false, true], SIMDLevel.available)
        func `strided gate mixture matches a naive reference`(relu: Bool, level: SIMDLevel) {
            for gated in [true, false] { stridedMixture(relu: relu, level: level, gated: gated) }
        }

        /// `gated: false` passes no gates (every weight 1, the Shared-Bottom case).
        func stridedMixture(relu: Bool, level: SIMDLevel, gated: Bool) {
            // Experts side by side in a packed (B, P) matrix, gates after them, as the inference bottom lays them out.
            // 139 = two 64-wide blocks, one 8-wide vector and a 3-column tail (the AVX2 kernel's three paths;
            // AVX-512: two full blocks and one of 11 columns under a lane mask).
            for shape in Self.shapes + [Shape(batch: 9, experts: 4, hidden: 64), Shape(batch: 3, experts: 2, hidden: 20),
                                        Shape(batch: 5, experts: 3, hidden: 139)] {
                let (b, e, h) = (shape.batch, shape.experts, shape.hidden)
                let p = e * h + e + 3
                let packed = randomTensor([b, p], seed: UInt64(b * 100 + h))
                var out = [Float](repeating: .nan, count: b * h), expected = [Float](repeating: 0, count: b * h)
                for r in 0..<b {
                    for j in 0..<h {
                        var s = 0.0
                        for x in 0..<e {
                            let v = packed.scalars[r * p + x * h + j]
                            s += (gated ? Double(packed.scalars[r * p + e * h + x]) : 1) * Double(relu ? max(v, 0) : v)
                        }
                        expected[r * h + j] = Float(s)
                    }
                }
                packed.withUnsafeBufferPointer { z in
                    out.withUnsafeMutableBufferPointer { o in
                        GateMixture.forward(gates: gated ? z.baseAddress! + e * h : nil, gateStride: p, experts: e, expertBase: z.baseAddress!,
                                            expertStride: h, rowStride: p, relu: relu, rows: b, width: h,
                                            output: o.baseAddress!, level: level)
                    }
                }
                expectClose(Tensor(shape: [b * h], scalars: out), Tensor(shape: [b * h], scalars: expected),
                            rtol: 1e-5, atol: 1e-6, shape.testDescription)
            }
        }

        /// The inference bottom's fused gates and mixtures (bias on load, every task in one pass)
        /// against softmax and mixture computed in Double. Widths: 64 (one full block), 139 (two
        /// blocks and an 11-lane tail), 5; tasks 1, 2 and 6 (a group of four and one of two).
        @Test(arguments: SIMDLevel.available)
        func `packed MMoE mixture matches a naive reference`(level: SIMDLevel) {
            for (rows, e, h, k) in [(24, 4, 64, 2), (5, 3, 139, 1), (7, 2, 5, 6), (1, 1, 16, 3)] {
                let p = e * h + k * e + 2  // two spare columns: the row stride exceeds P
                let z0 = randomTensor([rows, p], seed: UInt64(rows * 31 + h)).scalars.map { 3 * $0 }
                let bias = randomTensor([p], seed: UInt64(k)).scalars
                var z = z0
                var outs = [[Float]](repeating: [Float](repeating: .nan, count: rows * h), count: k)
                withPointers(to: &outs) { outputs in
                    z.withUnsafeMutableBufferPointer { zp in
                        bias.withUnsafeBufferPointer { b in
                            GateMixture.forwardPacked(zp.baseAddress!, rowStride: p, bias: b.baseAddress!, rows: rows,
                                                      experts: e, width: h, outputs: outputs, level: level)
                        }
                    }
                }
                for r in 0..<rows {
                    for t in 0..<k {
                        let g0 = e * h + t * e
                        let logits = (0..<e).map { Double(z0[r * p + g0 + $0]) + Double(bias[g0 + $0]) }
                        let top = logits.max()!, exps = logits.map { Foundation.exp($0 - top) }, sum = exps.reduce(0, +)
                        let gates = exps.map { $0 / sum }
                        for x in 0..<e {  // the gate columns now hold the probabilities
                            #expect(abs(Double(z[r * p + g0 + x]) - gates[x]) <= 1e-6, "rows \(rows) E \(e) H \(h) K \(k) gate")
                        }
                        for j in 0..<h {
                            var expected = 0.0
                            for x in 0..<e { expected += gates[x] * max(Double(z0[r * p + x * h + j]) + Double(bias[x * h + j]), 0) }
                            let got = Double(outs[t][r * h + j])
                            #expect(abs(got - expected) <= 1e-5 * (1 + abs(expected)),
                                    "rows \(rows) E \(e) H \(h) K \(k) task \(t) [\(r), \(j)]: \(got) vs \(expected)")
                        }
                    }
                }
                // Expert columns are read, not written; the spare columns are untouched.
                for r in 0..<rows {
                    #expect((0..<(e * h)).allSatisfy { z[r * p + $0] == z0[r * p + $0] })
                    #expect(z[r * p + p - 1] == z0[r * p + p - 1] && z[r * p + p - 2] == z0[r * p + p - 2])
                }
            }
        }

        /// `body` with the base address of each array of `arrays`.
        func withPointers(to arrays: inout [[Float]], _ body: (UnsafeBufferPointer<UnsafeMutablePointer<Float>?>) -> Void) {
            var bases: [UnsafeMutablePointer<Float>?] = []
            arrays.withUnsafeMutableBufferPointer { arrays in
                func borrow(_ i: Int) {
                    guard i < arrays.count else { return bases.withUnsafeBufferPointer(body) }
                    arrays[i].withUnsafeMutableBufferPointer { a in
                        bases.append(a.baseAddress)
                        borrow(i + 1)
                    }
                }
                borrow(0)
            }
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `gate mixture forward matches a naive reference`(shape: Shape, seed: UInt64) {
            let gate = randomTensor([shape.batch, shape.experts], seed: seed)
            let experts = randomTensor([shape.experts, shape.batch, shape.hidden], seed: seed + 100)
            var expected = Tensor(shape: [shape.batch, shape.hidden])
            for b in 0..<shape.batch {
                for h in 0..<shape.hidden {
                    var s = 0.0
                    for e in 0..<shape.experts { s += Double(gate[b, e]) * Double(experts[e, b, h]) }
                    expected[b, h] = Float(s)
                }
            }
            expectClose(Self.apply(gate, experts), expected, rtol: 1e-5, atol: 1e-6)
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `gate mixture backward matches finite differences for gate and experts`(shape: Shape, seed: UInt64) {
            let gate = randomTensor([shape.batch, shape.experts], seed: seed)
            let experts = randomTensor([shape.experts, shape.batch, shape.hidden], seed: seed + 100)
            let upstream = randomTensor([shape.batch, shape.hidden], seed: seed + 200)
            var dGate = Tensor(shape: gate.shape), dExperts = Tensor(shape: experts.shape)
            GateMixture.backward(gate: gate, experts: experts, dOutput: upstream, dGate: &dGate, dExperts: &dExperts)
            gradientCheck(dGate, of: { weightedSum(Self.apply($0, experts), upstream) }, at: gate, "dGate")
            gradientCheck(dExperts, of: { weightedSum(Self.apply(gate, $0), upstream) }, at: experts, "dExperts")

            let (onceGate, onceExperts) = (dGate, dExperts)
            GateMixture.backward(gate: gate, experts: experts, dOutput: upstream, dGate: &dGate, dExperts: &dExperts)
            expectClose(dGate, 2 * onceGate, rtol: 1e-6, atol: 0, "dGate accumulates")
            expectClose(dExperts, 2 * onceExperts, rtol: 1e-6, atol: 0, "dExperts accumulates")
        }

        @Test func `gate mixture traps when gate and experts disagree`() async {
            // experts must be (E, B, H) = (3, 2, H); (2, 3, H) is the transposed layout.
            await #expect(processExitsWith: .failure) {
                var f = Tensor.zeros(2, 4)
                GateMixture.forward(gate: .zeros(2, 3), experts: .zeros(2, 3, 4), output: &f)
            }
        }

        @Test func `gate mixture traps on a wrongly shaped output or gradient`() async {
            await #expect(processExitsWith: .failure) {
                var f = Tensor.zeros(2, 5)
                GateMixture.forward(gate: .zeros(2, 3), experts: .zeros(3, 2, 4), output: &f)
            }
            await #expect(processExitsWith: .failure) {
                var dGate = Tensor.zeros(3, 2), dExperts = Tensor.zeros(3, 2, 4)
                GateMixture.backward(
                    gate: .zeros(2, 3), experts: .zeros(3, 2, 4), dOutput: .zeros(2, 4),
                    dGate: &dGate, dExperts: &dExperts)
            }
        }
    }
}
