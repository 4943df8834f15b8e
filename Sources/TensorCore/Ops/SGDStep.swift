/// The element-wise SGD update of one tensor's parameters, in place, with optional momentum
/// and (coupled, L2) weight decay, as PyTorch's `torch.optim.SGD` writes it:
///
/// ```
/// d ← g + λθ
/// v ← μv + d          (skipped when μ = 0: then v is not read or written)
/// θ ← θ − η · (μ > 0 ? v : d)
/// ```
/// Plain Swift: the loop is memory-bound and the compiler vectorises it.
public enum SGDStep {
    /// Updates `parameters` (and `velocity` when `momentum > 0`) in place.
    /// - Parameters:
    ///   - velocity: `v`, the momentum buffer (same count as `gradients`; untouched when μ = 0).
    ///   - learningRate: `η`. - momentum: `μ` in [0, 1). - weightDecay: `λ ≥ 0`.
    /// - Precondition: the buffers have the same count and do not overlap.
    /// - Complexity: O(n).
    public static func apply(
        parameters p: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        velocity v: UnsafeMutableBufferPointer<Float>, learningRate lr: Float, momentum mu: Float, weightDecay wd: Float
    ) {
        precondition(p.count == g.count && v.count == g.count,
                     "SGDStep: parameters \(p.count), gradients \(g.count), velocity \(v.count)")
        if mu == 0 {
            for j in 0..<g.count { p[j] -= lr * (g[j] + wd * p[j]) }
        } else {
            for j in 0..<g.count {
                v[j] = mu * v[j] + (g[j] + wd * p[j])
                p[j] -= lr * v[j]
            }
        }
    }
}
