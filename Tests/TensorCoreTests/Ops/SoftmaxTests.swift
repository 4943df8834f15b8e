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
    }
}
