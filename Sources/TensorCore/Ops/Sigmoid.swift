#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Logistic sigmoid, elementwise on a tensor of any rank:
///
/// ```
/// y = σ(x) = 1 / (1 + e^{−x})
/// ∂y/∂x = y(1 − y)
/// ```
public enum Sigmoid {
    /// `σ(x)` for one scalar, without overflow for large `|x|`.
    ///
    /// `e^{−x}` overflows to `inf` for `x < −88` in Float; that still yields the right limit 0,
    /// but `e^{x} / (1 + e^{x})` on the negative side keeps full relative precision for tiny
    /// outputs, which BCE gradients and log-probabilities rely on.
    @inlinable
    public static func value(_ x: Float) -> Float {
        if x >= 0 {
            return 1 / (1 + expf(-x))
        }
        let e = expf(x)
        return e / (1 + e)
    }

    /// `output = σ(input)`, overwriting `output`, which must have `input`'s shape.
    public static func forward(_ input: Tensor, into output: inout Tensor) {
        precondition(
            output.shape == input.shape,
            "Sigmoid.forward: input \(input.shape) vs output \(output.shape)")
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                for i in 0..<y.count { y[i] = value(x[i]) }
            }
        }
    }

    /// `x = σ(x)` in place.
    public static func forwardInPlace(_ x: inout Tensor) {
        x.withUnsafeMutableBufferPointer { x in
            for i in 0..<x.count { x[i] = value(x[i]) }
        }
    }

    /// Accumulates the input gradient from the forward output:
    ///
    /// ```
    /// dInput += dOutput ⊙ y(1 − y)
    /// ```
    public static func backward(output: Tensor, dOutput: Tensor, dInput: inout Tensor) {
        precondition(
            dOutput.shape == output.shape && dInput.shape == output.shape,
            "Sigmoid.backward: output \(output.shape), dOutput \(dOutput.shape), dInput \(dInput.shape) must match")
        output.withUnsafeBufferPointer { y in
            dOutput.withUnsafeBufferPointer { dy in
                dInput.withUnsafeMutableBufferPointer { dx in
                    for i in 0..<dx.count { dx[i] += dy[i] * y[i] * (1 - y[i]) }
                }
            }
        }
    }
}
