import ArgumentParser
import Foundation
import Retrieval
import TensorCore

/// `metarec retrieval synthetic`: a retrieval model with seeded random weights over the item ids
/// `0 … N−1` (the synthetic ranker's `item_id` values), published like a trained one; for the
/// HTTP contract check and tests of `serve --retrieval`, never for recommendations.
struct RetrievalSynthetic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "Write an untrained two-tower model over item ids 0..<items (for checks of serve --retrieval).")

    @Option(help: "Catalogue size N.") var items: Int = 500
    @Option(help: "Embedding width d.") var dimension: Int = 16
    @Option(help: "Seed of the weights.") var seed: UInt64 = 1
    @Option(help: "Model directory to write.") var out: String

    func run() async throws {
        try reportingErrors {
            var config = RetrievalConfig(items: items, itemFeatures: 0)
            (config.dimension, config.embeddingWidth, config.hiddenWidth, config.seed) = (dimension, 8, 32, seed)
            try config.validate()
            let p = RetrievalParameters(config: config)
            let trained = TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: Tensor(shape: [items, 0])),
                                           bestEpoch: 0, bestValidationRecall: 0, epochs: [])
            print("wrote \(try RetrievalModelFiles.write(trained, config: config, catalogue: Array(0..<items), to: out))")
        }
    }
}
