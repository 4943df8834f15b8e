import Foundation
@testable import MetaRecCLI
import ModelDescription
import Retrieval
import TensorCore
import Testing

/// The retrieval model directory: what `metarec retrieval train` writes, `eval` reads back.
@Suite struct RetrievalModelDirectoryTests {
    static func trained(_ config: RetrievalConfig) -> TrainedRetrieval {
        let p = RetrievalParameters(config: config)
        let features = Tensor(shape: [config.items, config.itemFeatures], repeating: 0.5)
        return TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: features),
                                bestEpoch: 2, bestValidationRecall: 0.25, epochs: [])
    }

    @Test func `a written directory reads back the same parameters, embeddings and settings`() throws {
        var config = RetrievalConfig(items: 7, itemFeatures: 2)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.encoder) = (3, 4, 5, .gru(hidden: 3))
        (config.temperature, config.queueWarmupSteps, config.seed) = (0.2, 17, 9)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retrieval-dir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = Self.trained(config)
        try RetrievalModelDirectory.write(model, config: config, catalogue: [10, 11, 12, 13, 14, 15, 16], to: dir)
        let (manifest, parameters, embeddings) = try RetrievalModelDirectory.read(dir)
        #expect(manifest.config == config)
        #expect(manifest.catalogue == [10, 11, 12, 13, 14, 15, 16] && manifest.bestEpoch == 2)
        #expect(parameters.namedTensors.map(\.tensor) == model.parameters.namedTensors.map(\.tensor))
        #expect(embeddings == model.itemEmbeddings)
    }

    @Test func `files of another model version are refused`() throws {
        let config = RetrievalConfig(items: 5, itemFeatures: 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retrieval-dir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try RetrievalModelDirectory.write(Self.trained(config), config: config, catalogue: [1, 2, 3, 4, 5], to: dir)
        let embeddings = SafeTensors.encode([("item_embeddings", Tensor(shape: [5, 64]))], metadata: ["model_version": "other"])
        try AtomicFile.write(embeddings, to: dir + "/item_embeddings.safetensors")
        #expect(throws: RetrievalError.self) { try RetrievalModelDirectory.read(dir) }
    }
}
