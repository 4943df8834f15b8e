import ModelDescription
import ModelMath
import TensorCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam (Kingma & Ba 2015) for the dense parameters, with optional decoupled weight decay
/// (AdamW, Loshchilov & Hutter 2019):
///
/// ```
/// m ← β₁m + (1 − β₁)g      v ← β₂v + (1 − β₂)g²
/// θ ← θ − η · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε) − η·λ·θ
/// ```
/// The moments are ``ModelParameters`` too, so they checkpoint like the weights. Meta-SGD rate
/// multipliers `ρ` take their own `η_ρ` and are not decayed (decay would pull them to 0, i.e. to
/// no adaptation).
public struct AdamOptimizer: Sendable {
    public var learningRate: Float
    /// `η_ρ`: the learning rate of Meta-SGD's rate multipliers.
    public var innerRatesLearningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// First moments, shaped like the parameters.
    public var m: ModelParameters
    /// Second moments, shaped like the parameters.
    public var v: ModelParameters
    /// Steps taken (`t`).
    public var step: Int = 0

    public init(like parameters: ModelParameters, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, innerRatesLearningRate: Float? = nil) {
        self.learningRate = learningRate
        self.innerRatesLearningRate = innerRatesLearningRate ?? learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.m = .zeros(like: parameters)
        self.v = .zeros(like: parameters)
    }

    /// Applies one update of `parameters` from `gradients`.
    public mutating func update(_ parameters: inout ModelParameters, gradients: ModelParameters) {
        step += 1
        let c1 = 1 - powf(beta1, Float(step)), c2 = 1 - powf(beta2, Float(step))
        let b1 = beta1, b2 = beta2, eps = epsilon
        for slot in parameters.tensorSlots {
            let (lr, wd): (Float, Float)
            if case .innerRate = slot { (lr, wd) = (innerRatesLearningRate, 0) } else { (lr, wd) = (learningRate, weightDecay) }
            gradients.tensor(at: slot).withUnsafeBufferPointer { g in
                m.withTensor(at: slot) { m in
                    v.withTensor(at: slot) { v in
                        parameters.withTensor(at: slot) { p in
                            m.withUnsafeMutableBufferPointer { mm in
                                v.withUnsafeMutableBufferPointer { vv in
                                    p.withUnsafeMutableBufferPointer { pp in
                                        AdamStep.apply(parameters: pp, gradients: g, m: mm, v: vv, constants: .init(
                                            beta1: b1, beta2: b2, inverseCorrection1: 1 / c1, inverseCorrection2: 1 / c2,
                                            epsilon: eps, learningRate: lr, weightDecay: wd))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
