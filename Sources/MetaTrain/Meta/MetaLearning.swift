import ModelDescription
import ModelMath
import TensorCore

/// MAML settings of a training run (`docs/DESIGN.md` §Math):
///
/// ```
/// L = L_base + λ · L_meta,    L_meta = (1/U) Σ_u Σ_k w_k · L_{Q_u,k}(θ'_{u,k})
/// θ'_{u,k} = adapt(θ_k on S_u)        (towers only; embeddings, experts, gates are φ)
/// ```
/// `U` is the number of in-batch tasks with enough rows. `nil` settings = meta-learning off.
public struct MetaLearning: Sendable {
    public var splitter: TaskSplitter
    /// The inner loop (the same policy type evaluation and serving adapt with).
    public var adaptation: Adaptation
    public var order: MetaOrder
    /// `λ`.
    public var weight: Float

    public init(splitter: TaskSplitter, adaptation: Adaptation, order: MetaOrder, weight: Float) {
        self.splitter = splitter
        self.adaptation = adaptation
        self.order = order
        self.weight = weight
    }

    /// The config's `meta` section, or nil when `meta.enabled` is false.
    public init?(config: ModelConfig) {
        guard config.meta.enabled else { return nil }
        self.init(
            splitter: TaskSplitter(minimumRows: config.meta.minTaskRows, supportFraction: config.meta.supportFraction,
                                   splitsByTime: config.time != nil),
            adaptation: config.trainingAdaptation,
            order: config.meta.order,
            weight: Float(config.meta.metaWeight))
    }
}
