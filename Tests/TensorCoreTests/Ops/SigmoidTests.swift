import Foundation
import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct SigmoidTests {
        @Test(arguments: OpsFixtures.elementwiseShapes, OpsFixtures.seeds)
        func `sigmoid forward, in-place forward and backward agree with references`(shape: [Int], seed: UInt64) {
            OpsFixtures.checkElementwise(
                forward: { Sigmoid.forward($0, into: &$1) },
                forwardInPlace: { Sigmoid.forwardInPlace(&$0) },
                backward: { Sigmoid.backward(output: $0, dOutput: $1, dInput: &$2) },
                reference: { 1 / (1 + exp(-$0)) },
                input: randomTensor(shape, seed: seed, scale: 4), seed: seed)
        }

        @Test func `sigmoid is finite and accurate for large magnitudes`() {
            let x = Tensor(shape: [6], scalars: [-1000, -100, -30, 30, 100, 1000])
            var y = OpsFixtures.garbage([6])
            Sigmoid.forward(x, into: &y)
            #expect(y.isFinite)
            #expect(y.scalars[0] == 0)
            // σ(−30) ≈ 9.36e-14: the e^x/(1+e^x) branch keeps full relative precision.
            expectClose(Double(y.scalars[2]), 1 / (1 + exp(30.0)), rtol: 1e-5, atol: 0)
            expectClose(Double(y.scalars[1]), 1 / (1 + exp(100.0)), rtol: 1e-2, atol: 1e-44)
            #expect(y.scalars[3] == 1 && y.scalars[4] == 1 && y.scalars[5] == 1)
        }
    }
}
