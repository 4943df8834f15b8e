import Testing
import Retrieval
import TensorCore
import TestSupport

/// Per-request adaptation recovers a planted taste shift the trained tower cannot see. The model
/// is trained on the clustered log of ``PlantedSignalTests`` (each user's items from one
/// cluster). Test users then shift: a history of 8 items of one cluster followed by 2 of
/// another, the targets 2 more of the new cluster. The bag of words is dominated by the old
/// cluster; adapting `u` on the last 2 items must move it to the new one.
@Suite struct AdaptationSignalTests {
    static let clusters = PlantedSignalTests.clusters, perCluster = PlantedSignalTests.perCluster

    /// One shifted case per user: 8 items of cluster `u mod C`, then 2 of another; 2 targets from the other.
    static func shiftedCases(users: Int, seed: UInt64) -> [NextItemSplit.Case] {
        var rng = SeededRandom(seed: seed)
        func draw(_ cluster: Int, _ count: Int) -> [Int32] {
            Array((0..<perCluster).map { Int32(cluster * perCluster + $0) }.shuffled(using: &rng).prefix(count))
        }
        return (0..<users).map { u in
            let old = u % clusters, new = (old + 1 + u / clusters % (clusters - 1)) % clusters
            let recent = draw(new, 4)
            return NextItemSplit.Case(user: u, history: (draw(old, 8) + recent.prefix(2))[...], targets: recent.suffix(2))
        }
    }

    static func config(adaptation: UserAdaptation?) -> RetrievalConfig {
        var config = RetrievalConfig(items: clusters * perCluster, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.encoder) = (8, 8, 16, .bagOfWords)
        (config.maxHistory, config.batchSize, config.queueCapacity) = (12, 32, 0)
        (config.learningRate, config.temperature, config.adaptation) = (0.01, 0.1, adaptation)
        return config
    }

    static func recallAt5(_ cases: [NextItemSplit.Case], _ model: TrainedRetrieval, adaptation: UserAdaptation?) -> Double {
        let ranked = TwoTowerRanking.rank(cases, parameters: model.parameters, itemEmbeddings: model.itemEmbeddings,
                                          maxHistory: 12, k: 5, adaptation: adaptation.map { ($0, 0.1) })
        return zip(cases, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [5]).recall[5]! }.reduce(0, +) / Double(cases.count)
    }

    @Test func `adapting on the last items recovers a taste shift the trained tower misses`() throws {
        let data = PlantedSignalTests.log(users: 120, length: 12, seed: 3)
        let model = RetrievalTraining.train(config: Self.config(adaptation: nil), log: data, split: NextItemSplit(data, targets: 2), epochs: 6)
        let cases = Self.shiftedCases(users: 120, seed: 5)
        let adaptation = try UserAdaptation(steps: 10, rate: 0.03, supportSize: 2)
        let plain = Self.recallAt5(cases, model, adaptation: nil)
        let adapted = Self.recallAt5(cases, model, adaptation: adaptation)
        #expect(adapted > plain + 0.15, "recall@5 unadapted \(plain), adapted \(adapted)")
    }

    @Test func `meta-training with the adaptation in the loop still learns the clusters, and the model keeps its adaptation`() throws {
        let data = PlantedSignalTests.log(users: 120, length: 12, seed: 3)
        let split = NextItemSplit(data, targets: 2)
        let adaptation = try UserAdaptation(steps: 2, rate: 0.05, supportSize: 3)
        let config = Self.config(adaptation: adaptation)
        let model = RetrievalTraining.train(config: config, log: data, split: split, epochs: 6)
        let ranked = TwoTowerRanking.rank(split.test, parameters: model.parameters, itemEmbeddings: model.itemEmbeddings,
                                          maxHistory: 12, k: 5, adaptation: (adaptation, 0.1))
        let recall = zip(split.test, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [5]).recall[5]! }.reduce(0, +) / Double(split.test.count)
        #expect(recall > 0.35, "recall@5 \(recall)")
        func validation(_ c: RetrievalConfig) -> Double {
            RetrievalTraining.validationRecall(split, parameters: model.parameters, itemEmbeddings: model.itemEmbeddings, config: c)
        }
        #expect(abs(model.bestValidationRecall - validation(config)) < 1e-12, "training's validation is this function with this config")
        // … and that function adapts: an absurd adaptation (100 steps at rate 10) changes its value
        // (were the config's adaptation ignored, the two would be equal to the last bit).
        var absurd = config
        absurd.adaptation = try UserAdaptation(steps: 100, rate: 10, supportSize: 3)
        #expect(validation(absurd) != validation(config), "\(validation(absurd)) vs \(validation(config))")
    }
}
