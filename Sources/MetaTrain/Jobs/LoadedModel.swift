import Foundation
import Models
import ParamServer

/// A model directory loaded for scoring: config, encoder, dense weights and embedding rows.
public struct LoadedModel {
    public let directory: ModelDirectory
    public let config: ModelConfig
    public let manifest: ModelManifest
    public let encoder: FeatureEncoder
    public let parameters: ModelParameters
    public let embeddings: EmbeddingStore

    /// Loads and cross-checks every file; errors name the file and the problem.
    public init(path: String) throws {
        let directory = ModelDirectory(path: path)
        guard directory.exists else {
            throw CheckpointError.io(path: directory.manifestPath, reason: "not a model directory (no manifest.json)")
        }
        self.directory = directory
        manifest = try directory.readJSON(ModelManifest.self, from: directory.manifestPath)
        guard manifest.formatVersion == ModelDirectory.formatVersion else {
            throw CheckpointError.mismatch(path: directory.manifestPath,
                                           reason: "format version \(manifest.formatVersion), this build reads \(ModelDirectory.formatVersion)")
        }
        config = try ModelConfig.load(yamlFile: directory.configPath)
        let statistics = try directory.readJSON(NumericStatistics.self, from: directory.preprocessingPath)
        encoder = try FeatureEncoder(config: config, statistics: statistics)
        let (parameters, version) = try directory.readParameters(like: ModelParameters(spec: config.networkSpec, seed: config.model.seed))
        guard version == manifest.modelVersion else {
            throw CheckpointError.mismatch(path: directory.parametersPath,
                                           reason: "model version \(version ?? "none") differs from the manifest's \(manifest.modelVersion)")
        }
        self.parameters = parameters
        embeddings = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
        try embeddings.restore(from: directory.embeddingsPath)
    }
}
