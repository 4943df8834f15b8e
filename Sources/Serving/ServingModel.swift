import ModelDescription
import ModelMath
import ParamServer

/// What a predictor serves: the config, encoder, dense weights, embedding rows and the
/// support store of one model version. Built from a model directory (``init(_:)``) or from
/// parts (benchmarks and tests build random-weight models in-process).
public struct ServingModel: Sendable {
    public let config: ModelConfig
    public let encoder: FeatureEncoder
    public let parameters: ModelParameters
    public let embeddings: EmbeddingStore
    public let support: SupportStore
    /// The manifest's model version id, echoed in every response.
    public let modelVersion: String
    /// The model directory, when loaded from one (the support store is snapshotted into it).
    public let directory: ModelDirectory?
    /// Each label's `[min, max]` in the training data, by task name (the manifest's): what the
    /// fallback checks fine-tuned regression predictions against. Nil: not checked.
    public let labelRanges: [String: [Double]]?

    public init(
        config: ModelConfig, encoder: FeatureEncoder, parameters: ModelParameters, embeddings: EmbeddingStore,
        support: SupportStore, modelVersion: String, directory: ModelDirectory? = nil, labelRanges: [String: [Double]]? = nil
    ) {
        self.config = config
        self.encoder = encoder
        self.parameters = parameters
        self.embeddings = embeddings
        self.support = support
        self.modelVersion = modelVersion
        self.directory = directory
        self.labelRanges = labelRanges
    }

    /// The model of a loaded model directory.
    public init(_ loaded: LoadedModel) {
        self.init(config: loaded.config, encoder: loaded.encoder, parameters: loaded.parameters,
                  embeddings: loaded.embeddings, support: loaded.support,
                  modelVersion: loaded.manifest.modelVersion, directory: loaded.directory,
                  labelRanges: loaded.manifest.labelRanges)
    }
}

/// Serving defaults (YAML `serving`), overridable per request.
public struct ServingSettings: Sendable, Equatable {
    /// Fine-tune towers per request.
    public var finetune: Bool
    /// The per-request inner loop (`serving.inner_steps`, `serving.inner_learning_rate` and the
    /// model's inner loss, adapted layers and head); a request may override steps and rate.
    public var adaptation: Adaptation
    /// Most candidates in one request.
    public var maxCandidates: Int
    /// Fewest support rows a user needs to be fine-tuned; fewer → the base towers.
    public var minimumSupportRows: Int
    /// Per task: when an adapted tower is refused (outsized update, prediction outside the
    /// label's range); set from the config and the model's label ranges by ``Predictor``.
    public var guards: [AdaptationGuard]? = nil

    public init(finetune: Bool, adaptation: Adaptation, maxCandidates: Int, minimumSupportRows: Int = 1) {
        precondition(minimumSupportRows >= 1, "ServingSettings: minimumSupportRows must be >= 1, got \(minimumSupportRows)")
        self.finetune = finetune
        self.adaptation = adaptation
        self.maxCandidates = maxCandidates
        self.minimumSupportRows = minimumSupportRows
    }

    /// The settings of a config's `serving` section (and its `meta` inner-loop policy).
    public init(_ config: ModelConfig) {
        let serving = config.serving
        self.init(finetune: serving.finetune, adaptation: config.servingAdaptation,
                  maxCandidates: serving.maxCandidates, minimumSupportRows: max(1, serving.finetuneMinSupportRows))
    }

    /// Largest per-request `steps` accepted (bounds the work one request can ask for).
    public static let maxSteps = 100
}
