import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct MSETests {
        static let shapes: [[Int]] = [[1], [1, 1], [7], [13, 1]]

        static func labels(_ b: Int, seed: UInt64) -> Tensor {
            var y = randomTensor([b], seed: seed + 500, scale: 3)
            if b > 2 { y.scalars[1] = .nan }
            return y
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `mse loss matches a naive sum and skips missing labels`(shape: [Int], seed: UInt64) {
            let p = randomTensor(shape, seed: seed, scale: 3)
            let y = Self.labels(shape[0], seed: seed)
            var expected = 0.0
            for i in 0..<shape[0] where !y.scalars[i].isNaN {
                let r = Double(p.scalars[i]) - Double(y.scalars[i])
                expected += r * r
            }
            expectClose(MSE.loss(predictions: p, labels: y), expected, rtol: 1e-12, atol: 0)
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `mse backward matches finite differences and accumulates`(shape: [Int], seed: UInt64) {
            let p = randomTensor(shape, seed: seed, scale: 3)
            let y = Self.labels(shape[0], seed: seed)
            let scale: Float = 0.37
            var dp = Tensor(shape: shape)
            MSE.backward(predictions: p, labels: y, scale: scale, dPredictions: &dp)
            gradientCheck(dp, of: { Double(scale) * MSE.loss(predictions: $0, labels: y) }, at: p)
            if shape[0] > 2 { #expect(dp.scalars[1] == 0, "missing label gets no gradient") }
            let once = dp
            MSE.backward(predictions: p, labels: y, scale: scale, dPredictions: &dp)
            expectClose(dp, 2 * once, rtol: 1e-6, atol: 0, "accumulates")
        }

        @Test func `mse traps when predictions and labels disagree`() async {
            await #expect(processExitsWith: .failure) {
                _ = MSE.loss(predictions: .zeros(3, 2), labels: .zeros(3))
            }
        }
    }
}
