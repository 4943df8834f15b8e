import ModelDescription
import ModelMath
import TensorCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The optimiser of the dense parameters (`training.optimizer`): Adam, AdaGrad or SGD, each
/// exactly as `Config/README.md` writes it.
///
/// ```
/// adam     m ← β₁m + (1 − β₁)g      v ← β₂v + (1 − β₂)g²                  (Kingma & Ba 2015)
///          θ ← θ − η · ((m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε) + λθ)  (decoupled λ: AdamW)
/// adagrad  G ← G + g²;  θ ← θ − η · g / (√G + ε)      G₀ = initial_accumulator (Duchi et al. 2011)
/// sgd      v ← μv + g + λθ;  θ ← θ − η · v            μ = 0: θ ← θ − η · (g + λθ)
/// ```
/// The state is two ``ModelParameters`` shaped like the weights, so it checkpoints like them
/// (`optimizer.m.*`, `optimizer.v.*`): Adam's moments `m`, `v`; SGD's velocity in `m`;
/// AdaGrad's accumulator `G` in `v`. Meta-SGD rate multipliers `ρ` take their own `η_ρ` and are
/// never decayed (decay would pull them to 0, i.e. to no adaptation).
public struct DenseOptimizer: Sendable {
    /// The update rule and its settings (the learning rate is ``learningRate``).
    public enum Rule: Sendable, Equatable {
        case adam(beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float)
        case adagrad(initialAccumulator: Float, epsilon: Float)
        case sgd(momentum: Float, weightDecay: Float)

        /// The config's `kind`, recorded in checkpoints.
        public var kindName: String {
            switch self {
            case .adam: "adam"
            case .adagrad: "adagrad"
            case .sgd: "sgd"
            }
        }
    }

    public var rule: Rule
    /// `η`.
    public var learningRate: Float
    /// `η_ρ`: the learning rate of Meta-SGD's rate multipliers.
    public var innerRatesLearningRate: Float
    /// Adam's first moments; SGD's velocity; unused (zeros) by AdaGrad.
    public var m: ModelParameters
    /// Adam's second moments; AdaGrad's accumulator `G`; unused (zeros) by SGD.
    public var v: ModelParameters
    /// Steps taken (`t`).
    public var step: Int = 0

    /// An optimiser for parameters shaped like `parameters`.
    public init(like parameters: ModelParameters, learningRate: Float, rule: Rule, innerRatesLearningRate: Float? = nil) {
        self.rule = rule
        self.learningRate = learningRate
        self.innerRatesLearningRate = innerRatesLearningRate ?? learningRate
        self.m = .zeros(like: parameters)
        self.v = .zeros(like: parameters)
        if case .adagrad(let a0, _) = rule { v.updateEachTensor { _, t in t.fill(a0) } }
    }

    /// Adam (the default dense optimiser) with the given settings.
    public init(like parameters: ModelParameters, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0, innerRatesLearningRate: Float? = nil) {
        self.init(like: parameters, learningRate: learningRate,
                  rule: .adam(beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay),
                  innerRatesLearningRate: innerRatesLearningRate)
    }

    /// The optimiser `config.training.optimizer` names, with `meta.inner_rates_learning_rate` for `ρ`.
    public init(like parameters: ModelParameters, config: ModelConfig) {
        let rule: Rule
        switch config.training.optimizer {
        case .adam(let a):
            rule = .adam(beta1: Float(a.beta1), beta2: Float(a.beta2), epsilon: Float(a.epsilon), weightDecay: Float(a.weightDecay))
        case .adagrad(let a):
            rule = .adagrad(initialAccumulator: Float(a.initialAccumulator), epsilon: Float(a.epsilon))
        case .sgd(let s):
            rule = .sgd(momentum: Float(s.momentum), weightDecay: Float(s.weightDecay))
        }
        self.init(like: parameters, learningRate: Float(config.training.optimizer.learningRate), rule: rule,
                  innerRatesLearningRate: Float(config.meta.innerRatesLearningRate))
    }

    /// Applies one update of `parameters` from `gradients`.
    public mutating func update(_ parameters: inout ModelParameters, gradients: ModelParameters) {
        step += 1
        let rule = self.rule, t = step
        for slot in parameters.tensorSlots {
            let isRate: Bool, decays: Bool
            switch slot {
            case .innerRate: (isRate, decays) = (true, false)
            // STAR's scene factors start at W_s = 1: decay toward 0 would pull every scene off the
            // shared tower, so they are not decayed.
            case .starTower: (isRate, decays) = (false, false)
            // Partitioned norm: the running statistics are state (never stepped); γ, γ_s start at 1
            // and, like batch norm's scales, are not decayed, nor are β, β_s.
            case .partitionedNorm(_, let field):
                if field.isStatistic { continue }
                (isRate, decays) = (false, false)
            default: (isRate, decays) = (false, true)
            }
            let lr = isRate ? innerRatesLearningRate : learningRate
            gradients.tensor(at: slot).withUnsafeBufferPointer { g in
                m.withTensor(at: slot) { m in
                    v.withTensor(at: slot) { v in
                        parameters.withTensor(at: slot) { p in
                            m.withUnsafeMutableBufferPointer { mm in
                                v.withUnsafeMutableBufferPointer { vv in
                                    p.withUnsafeMutableBufferPointer { pp in
                                        Self.apply(rule, step: t, parameters: pp, gradients: g, m: mm, v: vv,
                                                   learningRate: lr, decays: decays)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One tensor's step `t` under `rule` (`decays: false` drops the weight decay, for `ρ`).
    private static func apply(_ rule: Rule, step: Int, parameters p: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
                       m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
                       learningRate lr: Float, decays: Bool) {
        switch rule {
        case let .adam(b1, b2, eps, wd):
            let c1 = 1 - powf(b1, Float(step)), c2 = 1 - powf(b2, Float(step))
            AdamStep.apply(parameters: p, gradients: g, m: m, v: v, constants: .init(
                beta1: b1, beta2: b2, inverseCorrection1: 1 / c1, inverseCorrection2: 1 / c2,
                epsilon: eps, learningRate: lr, weightDecay: decays ? wd : 0))
        case let .adagrad(_, eps):
            AdagradStep.apply(parameters: p, gradients: g, accumulator: v, learningRate: lr, epsilon: eps)
        case let .sgd(mu, wd):
            SGDStep.apply(parameters: p, gradients: g, velocity: m, learningRate: lr, momentum: mu, weightDecay: decays ? wd : 0)
        }
    }
}
