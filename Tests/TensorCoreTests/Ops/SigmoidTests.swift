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
    
        /// The vectorised kernel at every level this CPU has, against σ in Double: within 4 ulp where
        /// the output is a normal float, within 3e-45 below it (the subnormal range), NaN for NaN,
        /// through a stride and a lane-masked tail.
        @Test(arguments: SIMDLevel.available)
        func `vectorised sigmoid matches the Double reference to a few ulp`(level: SIMDLevel) {
            var inputs: [Float] = [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 16.5, -16.5, 17, -17, 30, -30, 80, -80,
                                   87, -87, 87.5, -87.5, 100, -100, 103.9, -103.9, 104.5, -104.5, 1000, -1000,
                                   .infinity, -.infinity]
            var rng = SeededRandom(seed: 42)
            for _ in 0..<977 { inputs.append(Float(rng.nextDouble() * 60 - 30)) }
            for stride in [1, 3] {
                var out = [Float](repeating: .nan, count: inputs.count * stride)
                inputs.withUnsafeBufferPointer { x in
                    out.withUnsafeMutableBufferPointer { o in
                        Sigmoid.forward(x.baseAddress!, count: x.count, into: o.baseAddress!, stride: stride, level: level)
                    }
                }
                for (i, x) in inputs.enumerated() {
                    let expected = 1 / (1 + Foundation.exp(-Double(x)))
                    let got = Double(out[i * stride])
                    let tolerance = expected < Double(Float.leastNormalMagnitude) ? 3e-45 : 4 * Double(Float.ulpOfOne) * expected
                    #expect(abs(got - expected) <= tolerance, "\(level) σ(\(x)) = \(got), expected \(expected)")
                }
            }
            var nan: Float = 0
            [Float.nan].withUnsafeBufferPointer { x in Sigmoid.forward(x.baseAddress!, count: 1, into: &nan, level: level) }
            #expect(nan.isNaN)
        }
    }
}
