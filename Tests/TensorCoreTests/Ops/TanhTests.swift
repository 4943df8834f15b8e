import Foundation
import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct TanhTests {
        @Test(arguments: OpsFixtures.elementwiseShapes, OpsFixtures.seeds)
        func `tanh forward, in-place forward and backward agree with references`(shape: [Int], seed: UInt64) {
            OpsFixtures.checkElementwise(
                forward: { Tanh.forward($0, into: &$1) },
                forwardInPlace: { Tanh.forwardInPlace(&$0) },
                backward: { Tanh.backward(output: $0, dOutput: $1, dInput: &$2) },
                reference: { tanh($0) },
                input: randomTensor(shape, seed: seed, scale: 3), seed: seed)
        }

        @Test(arguments: [Float(-2), -0.3, 0, 0.7, 1.5])
        func `tanh second derivative matches finite differences of the first`(x: Float) {
            let h = 1e-3
            let first = { (x: Double) in 1 - tanh(x) * tanh(x) }
            let numeric = (first(Double(x) + h) - first(Double(x) - h)) / (2 * h)
            expectClose(Double(Tanh.secondDerivative(output: tanhf(x))), numeric, rtol: 1e-3, atol: 1e-5)
        }

        @Test func `tanh saturates without overflow`() {
            var y = OpsFixtures.garbage([2])
            Tanh.forward(Tensor(shape: [2], scalars: [-1000, 1000]), into: &y)
            #expect(y.scalars == [-1, 1])
        }
    }
}
