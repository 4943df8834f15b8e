/// Rectified linear unit, elementwise on a tensor of any rank:
///
/// ```
/// y = max(x, 0)
/// ∂y/∂x = [y > 0]        (the subgradient 0 is taken at x = 0)
/// ```
public enum ReLU {
    /// `output = max(input, 0)`, overwriting `output`, which must have `input`'s shape.
    public static func forward(_ input: Tensor, into output: inout Tensor) {
        precondition(
            output.shape == input.shape,
            "ReLU.forward: input \(input.shape) vs output \(output.shape)")
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                for i in 0..<y.count { y[i] = max(x[i], 0) }
            }
        }
    }

    /// `x = max(x, 0)` in place (the hidden layers of an MLP keep one buffer per layer).
    public static func forwardInPlace(_ x: inout Tensor) {
        x.withUnsafeMutableBufferPointer { x in
            for i in 0..<x.count { x[i] = max(x[i], 0) }
        }
    }

    /// Accumulates the input gradient from the forward *output* (so an in-place forward
    /// loses nothing backward needs):
    ///
    /// ```
    /// dInput += dOutput ⊙ [output > 0]
    /// ```
    public static func backward(output: Tensor, dOutput: Tensor, dInput: inout Tensor) {
        precondition(
            dOutput.shape == output.shape && dInput.shape == output.shape,
            "ReLU.backward: output \(output.shape), dOutput \(dOutput.shape), dInput \(dInput.shape) must match")
        output.withUnsafeBufferPointer { y in
            dOutput.withUnsafeBufferPointer { dy in
                dInput.withUnsafeMutableBufferPointer { dx in
                    for i in 0..<dx.count where y[i] > 0 { dx[i] += dy[i] }
                }
            }
        }
    }
}
