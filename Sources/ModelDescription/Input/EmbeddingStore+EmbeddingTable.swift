import ModelMath
import ParamServer

// The parameter server's embedding store is the model's embedding table: same pull/push shape.
// (Models depends on ParamServer for this; ParamServer still knows nothing of models.)
extension EmbeddingStore: EmbeddingTable {}

extension EmbeddingStoreConfig {
    /// The store a model config asks for: row width `embedding_dim`, rows initialised
    /// uniformly in ±0.05 from the model seed, the configured admission, expiry and row optimiser.
    public init(model config: ModelConfig) {
        let optimizer: RowOptimizer
        switch config.training.embeddingOptimizer {
        case .adagrad(let a):
            optimizer = .adagrad(learningRate: Float(a.learningRate), initialAccumulator: Float(a.initialAccumulator), epsilon: Float(a.epsilon))
        case .adam(let a):
            optimizer = .adam(learningRate: Float(a.learningRate), beta1: Float(a.beta1), beta2: Float(a.beta2), epsilon: Float(a.epsilon))
        case .sgd(let s):
            optimizer = .sgd(learningRate: Float(s.learningRate))
        }
        let expiry: Expiry
        switch config.embeddings.expiry {
        case .never: expiry = .none
        case .after(let seconds): expiry = .timeToLive(.seconds(seconds))
        }
        self.init(
            dimension: config.model.embeddingDimension,
            initializer: .uniform(bound: 0.05, seed: config.model.seed),
            admission: config.embeddings.admissionCount <= 1 ? .always : .afterSightings(config.embeddings.admissionCount),
            expiry: expiry, optimizer: optimizer)
    }
}
