#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hyperbolic tangent, elementwise on a tensor of any rank. Smooth everywhere, so the
/// second-order MAML tests can compare Hessian-vector products with finite differences
/// without ReLU kinks:
///
/// ```
/// y = tanh(x)
/// ∂y/∂x   = 1 − y²
/// ∂²y/∂x² = −2y(1 − y²)        (see ``secondDerivative(output:)``)
/// ```
public enum Tanh {
    /// `output = tanh(input)`, overwriting `output`, which must have `input`'s shape.
    /// (`tanhf` saturates to ±1 for large `|x|` without overflow.)
    public static func forward(_ input: Tensor, into output: inout Tensor) {
        precondition(
            output.shape == input.shape,
            "Tanh.forward: input \(input.shape) vs output \(output.shape)")
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                for i in 0..<y.count { y[i] = tanhf(x[i]) }
            }
        }
    }

    /// `x = tanh(x)` in place.
    public static func forwardInPlace(_ x: inout Tensor) {
        x.withUnsafeMutableBufferPointer { x in
            for i in 0..<x.count { x[i] = tanhf(x[i]) }
        }
    }

    /// Accumulates the input gradient from the forward output:
    ///
    /// ```
    /// dInput += dOutput ⊙ (1 − y²)
    /// ```
    public static func backward(output: Tensor, dOutput: Tensor, dInput: inout Tensor) {
        precondition(
            dOutput.shape == output.shape && dInput.shape == output.shape,
            "Tanh.backward: output \(output.shape), dOutput \(dOutput.shape), dInput \(dInput.shape) must match")
        output.withUnsafeBufferPointer { y in
            dOutput.withUnsafeBufferPointer { dy in
                dInput.withUnsafeMutableBufferPointer { dx in
                    for i in 0..<dx.count { dx[i] += dy[i] * (1 - y[i] * y[i]) }
                }
            }
        }
    }

    /// `tanh''(x) = −2y(1 − y²)` for `y = tanh(x)`: the factor an R-operator (Pearlmutter 1994)
    /// pass needs to push a tangent through the backward pass.
    @inlinable
    public static func secondDerivative(output y: Float) -> Float {
        -2 * y * (1 - y * y)
    }
}
