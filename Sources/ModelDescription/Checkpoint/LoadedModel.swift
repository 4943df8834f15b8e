import ModelMath
import Foundation
import ParamServer

/// A model directory loaded for scoring: config, encoder, dense weights, embedding rows and
/// (when the directory has one) the support store of per-task meta-layer inputs.
public struct LoadedModel: Sendable {
    public let directory: ModelDirectory
    public let config: ModelConfig
    public let manifest: ModelManifest
    public let encoder: FeatureEncoder
    public let parameters: ModelParameters
    public let embeddings: EmbeddingStore
    /// Per-task support rows; empty when the model directory has no `support.snapshot`.
    public let support: SupportStore

    /// Resolves `path` (``ModelDirectory/resolve(_:)``: the version `CURRENT` names, or a
    /// format-1 flat directory), checks every file against the manifest's checksums, then loads
    /// and cross-checks them; errors name the file and the problem.
    /// - Parameters:
    ///   - clock: time source of the stores (expiry); tests inject a manual clock.
    ///   - supportPrecision: how the support store keeps its rows' meta-layer inputs (the
    ///     snapshot is rounded into it at bfloat16); `nil`: the config's `serving.support_precision`.
    public init(path: String, clock: any ParamServerClock = SystemClock(), supportPrecision: SupportPrecision? = nil) throws {
        let directory = try ModelDirectory.resolve(path)
        self.directory = directory
        manifest = try directory.readJSON(ModelManifest.self, from: directory.manifestPath)
        guard (ModelDirectory.oldestReadableFormatVersion...ModelDirectory.formatVersion).contains(manifest.formatVersion) else {
            throw CheckpointError.mismatch(path: directory.manifestPath,
                                           reason: "format version \(manifest.formatVersion), this build reads \(ModelDirectory.oldestReadableFormatVersion)–\(ModelDirectory.formatVersion)")
        }
        try directory.verifyChecksums(manifest)
        config = try ModelConfig.load(yamlFile: directory.configPath)
        let statistics = try directory.readJSON(NumericStatistics.self, from: directory.preprocessingPath)
        encoder = try FeatureEncoder(config: config, statistics: statistics)
        let (parameters, version) = try directory.readParameters(like: ModelParameters(spec: config.networkSpec, seed: config.model.seed))
        guard version == manifest.modelVersion else {
            throw CheckpointError.mismatch(path: directory.parametersPath,
                                           reason: "model version \(version ?? "none") differs from the manifest's \(manifest.modelVersion)")
        }
        self.parameters = parameters
        embeddings = try EmbeddingStore(config: EmbeddingStoreConfig(model: config), clock: clock)
        try embeddings.restore(from: directory.embeddingsPath)
        support = try SupportStore(config: SupportStoreConfig(model: config, modelVersion: manifest.numericModelVersion,
                                                              precision: supportPrecision ?? config.serving.supportPrecision), clock: clock)
        if FileManager.default.fileExists(atPath: directory.supportPath) {
            try support.restore(from: directory.supportPath)
        }
    }
}

extension ModelManifest {
    /// The model version as the support store's numeric tag (the 16 hex digits).
    public var numericModelVersion: UInt64 { UInt64(modelVersion, radix: 16) ?? 0 }
}

extension SupportStoreConfig {
    /// The support store a model config asks for: rows of `f_1 … f_K` (`K·H` floats, plus the
    /// support encoder's source key, ``SupportRowKey``, when it is on) and `K` labels, `support_store.capacity` rows per task, its TTL, keep-floor, and its task and byte bounds.
    ///
    /// - Parameter precision: how the `K·H` meta-layer inputs are kept (the key's two floats are bit
    ///   patterns, ``bitPatternColumns``, kept exactly); float32 unless the caller asks (training
    ///   does not; ``LoadedModel`` passes `serving.support_precision` or its override).
    public init(model config: ModelConfig, modelVersion: UInt64, precision: SupportPrecision = .float32) {
        let expiry: Expiry
        switch config.supportStore.expiry {
        case .never: expiry = .none
        case .after(let seconds): expiry = .timeToLive(.seconds(seconds))
        }
        let capacity = config.supportStore.capacity
        self.init(rowWidth: config.supportRowWidth, labelWidth: config.taskCount, capacity: capacity,
                  expiry: expiry, keepFloor: min(config.supportStore.keepFloor, capacity),
                  memoryBound: MemoryBound(tasks: config.supportStore.maxTasks, bytes: config.supportStore.maxBytes),
                  modelVersion: modelVersion, precision: precision,
                  bitPatternColumns: config.supportRowWidth - config.taskCount * config.expertOutputWidth)
    }
}
