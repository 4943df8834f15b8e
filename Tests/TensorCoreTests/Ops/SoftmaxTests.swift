import Foundation
import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct SoftmaxTests {
        /// `(B, E)`, plus one rank-3 shape (softmax runs over the last dimension).
        static let shapes: [[Int]] = [[1, 1], [1, 7], [7, 13], [13, 4], [2, 3, 5]]

        static func apply(_ z: Tensor) -> Tensor {
            var p = OpsFixtures.garbage(z.shape)
            Softmax.forward(z, into: &p)
            return p
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `softmax forward matches a naive reference`(shape: [Int], seed: UInt64) {
            let z = randomTensor(shape, seed: seed, scale: 3)
            let n = shape.last!
            var expected = Tensor(shape: shape)
            for r in 0..<(z.count / n) {
                let row = (0..<n).map { Double(z.scalars[r * n + $0]) }
                let total = row.map { exp($0) }.reduce(0, +)
                for j in 0..<n { expected.scalars[r * n + j] = Float(exp(row[j]) / total) }
            }
            expectClose(Self.apply(z), expected, rtol: 1e-5, atol: 1e-7)
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `softmax backward through a weighted sum matches finite differences`(shape: [Int], seed: UInt64) {
            let z = randomTensor(shape, seed: seed, scale: 3)
            let upstream = randomTensor(shape, seed: seed + 1000)
            let p = Self.apply(z)
            var dz = Tensor(shape: shape)
            Softmax.backward(output: p, dOutput: upstream, dInput: &dz)
            gradientCheck(dz, of: { weightedSum(Self.apply($0), upstream) }, at: z, step: 1e-3)
            let once = dz
            Softmax.backward(output: p, dOutput: upstream, dInput: &dz)
            expectClose(dz, 2 * once, rtol: 1e-6, atol: 0, "accumulates")
        }

        @Test func `softmax is stable for huge logits`() {
            let p = Self.apply(Tensor(rows: [[1000, 1000, -1000], [-1e30, 0, 88.8]]))
            #expect(p.isFinite)
            expectClose(p, Tensor(rows: [[0.5, 0.5, 0], [0, Float(exp(-88.8)), 1]]), rtol: 1e-5, atol: 1e-7)
        }

        @Test func `softmax traps on mismatched shapes`() async {
            await #expect(processExitsWith: .failure) {
                var p = Tensor.zeros(2, 4)
                Softmax.forward(.zeros(2, 3), into: &p)
            }
        }

        /// The in-place strided form at every level this CPU has (AVX-512: four rows per vector
        /// for width 4, with a row tail; one masked vector per row up to 16; scalar beyond) against
        /// the Double reference; a row with NaN comes out NaN, a −inf logit gets probability 0,
        /// and the columns between rows are not touched.
        @Test(arguments: SIMDLevel.available)
        func `strided in-place softmax matches the Double reference at every level`(level: SIMDLevel) {
            for width in [1, 3, 4, 7, 16, 19] {
                for rows in [1, 4, 5, 9] {
                    let stride = width + 3
                    var z = randomTensor([rows * stride], seed: UInt64(width * 10 + rows), scale: 8).scalars
                    if rows >= 5 {
                        if width > 1 { z[2 * stride] = -.infinity }  // (a row of only −inf has no softmax)
                        z[4 * stride + width - 1] = .nan
                    }
                    var out = z
                    out.withUnsafeMutableBufferPointer { o in
                        Softmax.forwardInPlace(o.baseAddress!, rows: rows, width: width, stride: stride, level: level)
                    }
                    for r in 0..<rows {
                        let row = (0..<width).map { Double(z[r * stride + $0]) }
                        let label = "\(level) width \(width) row \(r) of \(rows)"
                        if row.contains(where: \.isNaN) {
                            #expect((0..<width).allSatisfy { out[r * stride + $0].isNaN }, "\(label): NaN row")
                        } else {
                            let top = row.max()!
                            let e = row.map { Foundation.exp($0 - top) }, sum = e.reduce(0, +)
                            for j in 0..<width {
                                let expected = e[j] / sum, got = Double(out[r * stride + j])
                                #expect(abs(got - expected) <= 1e-6 * max(expected, 1e-30) + 1e-38, "\(label) col \(j): \(got) vs \(expected)")
                            }
                        }
                        for j in width..<stride {
                            #expect(out[r * stride + j].bitPattern == z[r * stride + j].bitPattern, "\(label): gap \(j) written")
                        }
                    }
                }
            }
        }
    }
}
