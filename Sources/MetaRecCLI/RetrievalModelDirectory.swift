import Foundation
import ModelDescription
import Retrieval
import TensorCore

/// A retrieval model directory: the parameters, the item embeddings computed from them, and
/// the manifest (written last, so a directory with `retrieval.json` is complete).
///
/// ```
/// parameters.safetensors        every tensor of RetrievalParameters (names: RetrievalParameters.paths)
/// item_embeddings.safetensors   "item_embeddings" (N, d), metadata model_version; row i = catalogue item i
/// retrieval.json                settings, catalogue item ids (movieId per row), version, training report
/// ```
/// Files are written by ``ModelDescription/AtomicFile`` (the parameter server's atomic writer).
struct RetrievalManifest: Codable {
    var modelVersion: String
    var encoder: String
    var items: Int, itemFeatures: Int, embeddingWidth: Int, dimension: Int, hiddenWidth: Int, gruHidden: Int?
    var temperature: Float, maxHistory: Int, queueCapacity: Int, queueWarmupSteps: Int, logQCorrection: Bool
    var learningRate: Float, batchSize: Int, seed: UInt64
    var catalogue: [Int]
    var bestEpoch: Int, validationRecallAt50: Double, epochLosses: [Double], epochValidationRecall: [Double]

    init(config c: RetrievalConfig, version: String, catalogue: [Int], trained: TrainedRetrieval) {
        modelVersion = version
        encoder = c.encoder.description
        (items, itemFeatures, embeddingWidth, dimension, hiddenWidth) = (c.items, c.itemFeatures, c.embeddingWidth, c.dimension, c.hiddenWidth)
        if case .gru(let h) = c.encoder { gruHidden = h }
        (temperature, maxHistory, queueCapacity, logQCorrection) = (c.temperature, c.maxHistory, c.queueCapacity, c.logQCorrection)
        queueWarmupSteps = c.queueWarmupSteps
        (learningRate, batchSize, seed) = (c.learningRate, c.batchSize, c.seed)
        self.catalogue = catalogue
        (bestEpoch, validationRecallAt50) = (trained.bestEpoch, trained.bestValidationRecall)
        epochLosses = trained.epochs.map(\.loss)
        epochValidationRecall = trained.epochs.map(\.validationRecall)
    }

    var config: RetrievalConfig {
        var c = RetrievalConfig(items: items, itemFeatures: itemFeatures)
        (c.embeddingWidth, c.dimension, c.hiddenWidth) = (embeddingWidth, dimension, hiddenWidth)
        c.encoder = gruHidden.map { .gru(hidden: $0) } ?? .bagOfWords
        (c.temperature, c.maxHistory, c.queueCapacity, c.logQCorrection) = (temperature, maxHistory, queueCapacity, logQCorrection)
        c.queueWarmupSteps = queueWarmupSteps
        (c.learningRate, c.batchSize, c.seed) = (learningRate, batchSize, seed)
        return c
    }
}

enum RetrievalModelDirectory {
    static func write(_ trained: TrainedRetrieval, config: RetrievalConfig, catalogue: [Int], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let version = "retrieval-\(Int(Date().timeIntervalSince1970))-seed\(config.seed)"
        let metadata = ["model_version": version]
        try AtomicFile.write(SafeTensors.encode(trained.parameters.namedTensors, metadata: metadata),
                             to: directory + "/parameters.safetensors")
        try AtomicFile.write(SafeTensors.encode([("item_embeddings", trained.itemEmbeddings)], metadata: metadata),
                             to: directory + "/item_embeddings.safetensors")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifest = RetrievalManifest(config: config, version: version, catalogue: catalogue, trained: trained)
        try AtomicFile.write(encoder.encode(manifest), to: directory + "/retrieval.json")
    }

    /// The manifest, parameters and item embeddings of `directory`, checked against each other.
    static func read(_ directory: String) throws -> (RetrievalManifest, RetrievalParameters, Tensor) {
        let manifest = try JSONDecoder().decode(RetrievalManifest.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: directory + "/retrieval.json")))
        let paramPath = directory + "/parameters.safetensors", itemPath = directory + "/item_embeddings.safetensors"
        let (tensors, meta) = try SafeTensors.decode(Data(contentsOf: URL(fileURLWithPath: paramPath)), path: paramPath)
        let (items, itemMeta) = try SafeTensors.decode(Data(contentsOf: URL(fileURLWithPath: itemPath)), path: itemPath)
        guard meta["model_version"] == manifest.modelVersion, itemMeta["model_version"] == manifest.modelVersion else {
            throw RetrievalError.mismatch("\(directory): the files' model versions differ from the manifest's \(manifest.modelVersion)")
        }
        let parameters = try RetrievalParameters(config: manifest.config, tensors: tensors)
        guard let embeddings = items["item_embeddings"], embeddings.shape == [manifest.items, manifest.dimension] else {
            throw RetrievalError.mismatch("\(itemPath): item_embeddings must be [\(manifest.items), \(manifest.dimension)]")
        }
        return (manifest, parameters, embeddings)
    }
}
