import Testing
import TensorCore
import TestSupport

/// Parent suite of every op test, so `swift test --filter Ops` selects exactly them
/// (each op's suite is nested: `OpsTests/LinearTests/…`).
@Suite struct OpsTests {}

/// Small fixtures shared by the op suites.
enum OpsFixtures {
    /// Seeds every parameterised op test runs with.
    static let seeds: [UInt64] = [1, 2]

    /// A tensor full of NaN: forwards must overwrite, so NaN left in the output means they read it.
    static func garbage(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, repeating: .nan)
    }

    /// Random values pushed at least `margin` away from 0 (finite differences across a ReLU kink
    /// are meaningless).
    static func awayFromZero(_ shape: [Int], seed: UInt64, margin: Float = 0.1) -> Tensor {
        randomTensor(shape, seed: seed).map { $0 < 0 ? $0 - margin : $0 + margin }
    }
}

extension OpsFixtures {
    /// Shapes for the elementwise activations: rank 1–3, B = 1, widths 7 and 13.
    static let elementwiseShapes: [[Int]] = [[1], [1, 1], [7], [1, 13], [7, 13], [2, 3, 5]]

    /// Checks an elementwise activation's forward against `reference` (in Double), its
    /// in-place form against the out-of-place one, its backward against finite differences of
    /// `Σ act(x) ⊙ w`, and that backward accumulates.
    static func checkElementwise(
        forward: (Tensor, inout Tensor) -> Void,
        forwardInPlace: (inout Tensor) -> Void,
        backward: (Tensor, Tensor, inout Tensor) -> Void,
        reference: (Double) -> Double,
        input x: Tensor, seed: UInt64,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        func apply(_ x: Tensor) -> Tensor {
            var y = garbage(x.shape)
            forward(x, &y)
            return y
        }
        let y = apply(x)
        expectClose(y, x.map { Float(reference(Double($0))) }, rtol: 1e-5, atol: 1e-6, "forward", sourceLocation: sourceLocation)
        var inPlace = x
        forwardInPlace(&inPlace)
        #expect(inPlace == y, "in-place forward differs", sourceLocation: sourceLocation)

        let upstream = randomTensor(x.shape, seed: seed + 1000)
        var dx = Tensor(shape: x.shape)
        backward(y, upstream, &dx)
        gradientCheck(dx, of: { weightedSum(apply($0), upstream) }, at: x, step: 1e-3, sourceLocation: sourceLocation)
        let once = dx
        backward(y, upstream, &dx)
        expectClose(dx, 2 * once, rtol: 1e-6, atol: 0, "accumulates", sourceLocation: sourceLocation)
    }
}
