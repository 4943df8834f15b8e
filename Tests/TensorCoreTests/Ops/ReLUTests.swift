import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct ReLUTests {
        @Test(arguments: OpsFixtures.elementwiseShapes, OpsFixtures.seeds)
        func `relu forward, in-place forward and backward agree with references`(shape: [Int], seed: UInt64) {
            // Inputs kept ≥ 0.1 from the kink at 0, where finite differences are meaningless.
            OpsFixtures.checkElementwise(
                forward: { ReLU.forward($0, into: &$1) },
                forwardInPlace: { ReLU.forwardInPlace(&$0) },
                backward: { ReLU.backward(output: $0, dOutput: $1, dInput: &$2) },
                reference: { max($0, 0) },
                input: OpsFixtures.awayFromZero(shape, seed: seed), seed: seed)
        }

        @Test func `relu passes no gradient where the output is zero`() {
            let y = Tensor(shape: [4], scalars: [0, 2, 0, 3])
            var dx = Tensor(shape: [4], repeating: 1)
            ReLU.backward(output: y, dOutput: Tensor(shape: [4], repeating: 5), dInput: &dx)
            #expect(dx.scalars == [1, 6, 1, 6])
        }

        @Test func `relu traps on mismatched shapes`() async {
            await #expect(processExitsWith: .failure) {
                var y = Tensor.zeros(3, 2)
                ReLU.forward(.zeros(2, 3), into: &y)
            }
        }
    }
}
