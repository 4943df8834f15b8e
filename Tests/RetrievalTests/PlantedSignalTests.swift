import Testing
import Retrieval
import TensorCore
import TestSupport

/// Training recovers a planted structure: items fall in clusters, each user's history and next
/// item come from one cluster, without repeats. A model that knows the cluster ranks the 10 unseen
/// in-cluster items first: recall@5 = 0.5 in expectation; chance is about 0.05.
@Suite struct PlantedSignalTests {
    static let clusters = 6, perCluster = 20

    static func log(users: Int, length: Int, seed: UInt64) -> InteractionLog {
        var rng = SeededRandom(seed: seed)
        let items = clusters * perCluster
        let sequences: [[Int32]] = (0..<users).map { u in
            let cluster = u % clusters
            return Array((0..<perCluster).map { Int32(cluster * perCluster + $0) }.shuffled(using: &rng).prefix(length))
        }
        return InteractionLog(itemIDs: Array(0..<items), genres: [], features: Tensor(shape: [items, 0]),
                              userIDs: Array(0..<users), sequences: sequences)
    }

    static func recallAt5(_ encoder: HistoryEncoderKind, queue: Int, logQ: Bool) -> (trained: Double, untrained: Double) {
        let data = log(users: 120, length: 12, seed: 3)
        let split = NextItemSplit(data, targets: 2)
        var config = RetrievalConfig(items: 120, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.encoder) = (8, 8, 16, encoder)
        (config.maxHistory, config.batchSize, config.queueCapacity, config.logQCorrection) = (8, 32, queue, logQ)
        (config.learningRate, config.temperature, config.queueWarmupSteps) = (0.01, 0.1, 30)
        func recall(_ p: RetrievalParameters, _ v: Tensor) -> Double {
            let ranked = TwoTowerRanking.rank(split.test, parameters: p, itemEmbeddings: v, maxHistory: 8, k: 5)
            return zip(split.test, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [5]).recall[5]! }.reduce(0, +) / Double(split.test.count)
        }
        let initial = RetrievalParameters(config: config)
        let untrained = recall(initial, ItemTower.catalogue(initial, features: data.features))
        let trained = RetrievalTraining.train(config: config, log: data, split: split, epochs: 6)
        return (recall(trained.parameters, trained.itemEmbeddings), untrained)
    }

    @Test(arguments: [(HistoryEncoderKind.bagOfWords, 64, true), (.gru(hidden: 8), 64, true), (.lstm(hidden: 8), 64, true),
                      (.cnn(filters: 16, width: 2), 64, true), (.bagOfWords, 0, false)])
    func `training finds the planted clusters`(encoder: HistoryEncoderKind, queue: Int, logQ: Bool) {
        let (trained, untrained) = Self.recallAt5(encoder, queue: queue, logQ: logQ)
        #expect(trained > 0.35, "recall@5 \(trained)")
        #expect(trained > untrained + 0.25, "trained \(trained) vs untrained \(untrained)")
    }
}
