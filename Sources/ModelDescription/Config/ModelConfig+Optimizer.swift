import ModelMath

extension ModelConfig {
    /// An optimiser and its settings. YAML: a mapping with `kind` (`adam` | `adagrad` | `sgd`)
    /// and that kind's keys only (e.g. `beta1` under `kind: sgd` is an unknown key).
    public enum Optimizer: Sendable, Equatable, Codable {
        /// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
        case adam(Adam)
        /// AdaGrad (Duchi et al. 2011): the usual choice for sparse embedding rows.
        case adagrad(Adagrad)
        /// Plain SGD with optional momentum.
        case sgd(SGD)

        /// The YAML `kind`.
        public var kindName: String {
            switch self {
            case .adam: "adam"
            case .adagrad: "adagrad"
            case .sgd: "sgd"
            }
        }

        /// The learning rate, whatever the kind.
        public var learningRate: Double {
            switch self {
            case .adam(let s): s.learningRate
            case .adagrad(let s): s.learningRate
            case .sgd(let s): s.learningRate
            }
        }
    }

    /// Adam settings.
    /// ```
    /// m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
    /// θ ← θ − lr · (m̂ / (√v̂ + ε) + weight_decay · θ)
    /// ```
    public struct Adam: Sendable, Equatable, Codable {
        /// YAML `learning_rate`, default 0.001.
        public var learningRate: Double = 0.001
        /// YAML `beta1`, in [0, 1), default 0.9.
        public var beta1: Double = 0.9
        /// YAML `beta2`, in [0, 1), default 0.999.
        public var beta2: Double = 0.999
        /// YAML `epsilon`, > 0, default 1e-8.
        public var epsilon: Double = 1e-8
        /// Decoupled weight decay, ≥ 0. YAML `weight_decay`, default 0.
        public var weightDecay: Double = 0

        public init(learningRate: Double = 0.001, beta1: Double = 0.9, beta2: Double = 0.999,
                    epsilon: Double = 1e-8, weightDecay: Double = 0) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    /// AdaGrad settings.
    /// ```
    /// G ← G + g²;  θ ← θ − lr · g / (√G + ε)        G starts at initial_accumulator
    /// ```
    public struct Adagrad: Sendable, Equatable, Codable {
        /// YAML `learning_rate`, default 0.05.
        public var learningRate: Double = 0.05
        /// Starting value of `G`, ≥ 0. YAML `initial_accumulator`, default 0.1.
        public var initialAccumulator: Double = 0.1
        /// YAML `epsilon`, > 0, default 1e-10.
        public var epsilon: Double = 1e-10

        public init(learningRate: Double = 0.05, initialAccumulator: Double = 0.1, epsilon: Double = 1e-10) {
            self.learningRate = learningRate
            self.initialAccumulator = initialAccumulator
            self.epsilon = epsilon
        }
    }

    /// SGD settings.
    /// ```
    /// v ← momentum·v + g + weight_decay·θ;  θ ← θ − lr · v
    /// ```
    public struct SGD: Sendable, Equatable, Codable {
        /// YAML `learning_rate`, default 0.01.
        public var learningRate: Double = 0.01
        /// In [0, 1). YAML `momentum`, default 0.
        public var momentum: Double = 0
        /// ≥ 0. YAML `weight_decay`, default 0.
        public var weightDecay: Double = 0

        public init(learningRate: Double = 0.01, momentum: Double = 0, weightDecay: Double = 0) {
            self.learningRate = learningRate
            self.momentum = momentum
            self.weightDecay = weightDecay
        }
    }
}
