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
                    // Branch-free, eight lanes at a time: about half the units are active, so a
                    // branch per element mispredicts about half the time.
                    typealias V = SIMD8<Float>
                    let n = dx.count, stride = MemoryLayout<Float>.stride
                    guard n > 0 else { return }
                    let yb = UnsafeRawPointer(y.baseAddress!), dyb = UnsafeRawPointer(dy.baseAddress!)
                    let dxb = UnsafeMutableRawPointer(dx.baseAddress!)
                    let zero = V(repeating: 0)
                    var i = 0
                    while i + 8 <= n {
                        let offset = i * stride
                        let active = yb.loadUnaligned(fromByteOffset: offset, as: V.self) .> zero
                        let g = dyb.loadUnaligned(fromByteOffset: offset, as: V.self).replacing(with: 0, where: .!active)
                        dxb.storeBytes(of: dxb.loadUnaligned(fromByteOffset: offset, as: V.self) + g, toByteOffset: offset, as: V.self)
                        i += 8
                    }
                    while i < n {
                        if y[i] > 0 { dx[i] += dy[i] }
                        i += 1
                    }
                }
            }
        }
    }
}
