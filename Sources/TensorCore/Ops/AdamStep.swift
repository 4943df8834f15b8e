import CKernels

/// The element-wise Adam (AdamW) update of one tensor's parameters, in place:
///
/// ```
/// m ← β₁m + (1 − β₁)g      v ← β₂v + (1 − β₂)g²
/// θ ← θ − η · ((m · c₁⁻¹) / (sqrt(v · c₂⁻¹) + ε) + λθ)        c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ
/// ```
/// A C kernel (``mr_adam_step_at_level``): 16 lanes with AVX-512, the plain loop otherwise.
public enum AdamStep {
    /// The step's scalars: `β₁, β₂`, the inverse bias corrections `1/c₁, 1/c₂`, `ε`, `η`, `λ`.
    public struct Constants: Sendable {
        public var beta1: Float, beta2: Float, inverseCorrection1: Float, inverseCorrection2: Float
        public var epsilon: Float, learningRate: Float, weightDecay: Float

        public init(beta1: Float, beta2: Float, inverseCorrection1: Float, inverseCorrection2: Float,
                    epsilon: Float, learningRate: Float, weightDecay: Float) {
            (self.beta1, self.beta2, self.inverseCorrection1, self.inverseCorrection2) =
                (beta1, beta2, inverseCorrection1, inverseCorrection2)
            (self.epsilon, self.learningRate, self.weightDecay) = (epsilon, learningRate, weightDecay)
        }
    }

    /// Updates `parameters`, `m` and `v` (all of `gradients.count` elements) in place.
    /// - Precondition: the four buffers have the same count and do not overlap.
    public static func apply(
        parameters p: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>, constants c: Constants,
        level: SIMDLevel = .inUse
    ) {
        precondition(p.count == g.count && m.count == g.count && v.count == g.count,
                     "AdamStep: parameters \(p.count), gradients \(g.count), m \(m.count), v \(v.count)")
        precondition(level <= .cpu, "AdamStep: this CPU cannot run the \(level) kernel")
        guard g.count > 0 else { return }
        mr_adam_step_at_level(
            Int32(level.rawValue), p.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!, g.count,
            c.beta1, c.beta2, c.inverseCorrection1, c.inverseCorrection2, c.epsilon, c.learningRate, c.weightDecay)
    }
}
