import Foundation
import ParamServer
import Retrieval
import Serving
import TensorCore

/// The ranker and retrieval model of the Recommendation tests: the server tests' small synthetic
/// ranker (item ids "0" … "499" under `item_id`) and an untrained two-tower model over items
/// "0" … "59" (test targets cannot share a helper file).
enum Fixtures {
    static func model() throws -> ServingModel {
        let model = try ServingModel.synthetic(.small, clock: SystemClock())
        model.warmEmbeddings(items: 500, users: 0)
        return model
    }

    /// A two-tower model over `items` item ids, published and read back.
    static func retrieval(items: Int = 60) throws -> RetrievalModel {
        var config = RetrievalConfig(items: items, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.maxHistory, config.seed) = (6, 5, 8, 8, 11)
        let p = RetrievalParameters(config: config)
        let trained = TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: Tensor(shape: [items, 0])),
                                       bestEpoch: 1, bestValidationRecall: 0, epochs: [])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("recommendation-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try RetrievalModelFiles.write(trained, config: config, catalogue: Array(0..<items), to: root.path)
        return try RetrievalModelFiles.read(root.path)
    }
}

/// A fresh directory under the system temporary directory (the caller removes it).
func temporaryDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
