import CKernels
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

    /// `output[i·stride] = σ(input[i])` for `i < count`, vectorised (``mr_sigmoid_at_level``: with AVX-512,
    /// 16 lanes of a polynomial `e^x` within a few ulp of ``value(_:)``; otherwise ``value(_:)``).
    /// The serving path's scores go through here.
    /// - Precondition: `stride ≥ 1`; `input` and `output` do not overlap.
    public static func forward(
        _ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>, stride: Int = 1,
        level: SIMDLevel = .inUse
    ) {
        precondition(count >= 0 && stride >= 1, "Sigmoid.forward: count \(count), stride \(stride)")
        precondition(level <= .cpu, "Sigmoid: this CPU cannot run the \(level) kernel")
        mr_sigmoid_at_level(Int32(level.rawValue), input, count, output, stride)
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
