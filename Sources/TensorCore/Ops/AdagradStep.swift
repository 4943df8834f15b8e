/// The element-wise AdaGrad update (Duchi et al. 2011) of one tensor's parameters, in place:
///
/// ```
/// G ← G + g²
/// θ ← θ − η · g / (√G + ε)          G starts at the configured initial accumulator
/// ```
/// The same rule as the parameter server's AdaGrad embedding rows. Plain Swift: the loop is
/// memory-bound and the compiler vectorises it.
public enum AdagradStep {
    /// Updates `parameters` and `accumulator` in place.
    /// - Parameters:
    ///   - accumulator: `G`, the running sum of squared gradients (same count as `gradients`).
    ///   - learningRate: `η`. - epsilon: `ε > 0`.
    /// - Precondition: the buffers have the same count and do not overlap.
    /// - Complexity: O(n).
    public static func apply(
        parameters p: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        accumulator a: UnsafeMutableBufferPointer<Float>, learningRate lr: Float, epsilon eps: Float
    ) {
        precondition(p.count == g.count && a.count == g.count,
                     "AdagradStep: parameters \(p.count), gradients \(g.count), accumulator \(a.count)")
        for j in 0..<g.count {
            a[j] += g[j] * g[j]
            p[j] -= lr * g[j] / (a[j].squareRoot() + eps)
        }
    }
}
