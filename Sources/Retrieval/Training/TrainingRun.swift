import Foundation
import TensorCore

/// One epoch's figures.
public struct EpochReport: Sendable {
    /// 1-based epoch.
    public var epoch: Int
    /// Mean training loss over the epoch's batches.
    public var loss: Double
    /// Mean validation recall@50 after the epoch.
    public var validationRecall: Double
    /// Wall-clock seconds of the epoch (training and validation).
    public var seconds: Double
}

/// The result of ``RetrievalTraining/train(config:log:split:epochs:progress:)``.
public struct TrainedRetrieval: Sendable {
    /// The parameters of the best validation epoch.
    public var parameters: RetrievalParameters
    /// Their item embeddings, `(N, d)`.
    public var itemEmbeddings: Tensor
    /// The best epoch (1-based) and its validation recall@50.
    public var bestEpoch: Int
    public var bestValidationRecall: Double
    /// Every epoch's report.
    public var epochs: [EpochReport]

    /// A result from its parts.
    public init(parameters: RetrievalParameters, itemEmbeddings: Tensor, bestEpoch: Int, bestValidationRecall: Double,
                epochs: [EpochReport]) {
        (self.parameters, self.itemEmbeddings, self.bestEpoch) = (parameters, itemEmbeddings, bestEpoch)
        (self.bestValidationRecall, self.epochs) = (bestValidationRecall, epochs)
    }
}

/// Epochs over the split's training positions in a seeded random order, each followed by
/// recall@50 on the validation cases; keeps the best epoch's parameters (early stopping on
/// validation, the only use of the validation targets).
public enum RetrievalTraining {
    /// Trains for up to `epochs` epochs (stops after 3 epochs without a better validation recall).
    public static func train(
        config: RetrievalConfig, log: InteractionLog, split: NextItemSplit, epochs: Int,
        progress: (EpochReport) -> Void = { _ in }
    ) -> TrainedRetrieval {
        var trainer = RetrievalTrainer(config: config, features: log.features)
        var positions = split.trainingPositions
        var rng = SeededRandom(seed: config.seed &+ 0x9E37)
        var best = TrainedRetrieval(parameters: trainer.parameters, itemEmbeddings: trainer.itemEmbeddings(),
                                    bestEpoch: 0, bestValidationRecall: -1, epochs: [])
        var batch = HistoryBatch(maxLength: config.maxHistory)
        var targets: [Int32] = []
        for epoch in 1...max(1, epochs) {
            let started = Date()
            positions.shuffle(using: &rng)
            var total = 0.0, batches = 0
            var start = 0
            while start + config.batchSize <= positions.count {
                batch.removeAll()
                targets.removeAll(keepingCapacity: true)
                for (entry, t) in positions[start..<(start + config.batchSize)] {
                    let items = split.training[entry].items
                    let first = items.startIndex
                    batch.append(items[max(first, first + t - config.maxHistory)..<(first + t)])
                    targets.append(items[first + t])
                }
                total += trainer.step(history: batch, targets: targets)
                batches += 1
                start += config.batchSize
            }
            let embeddings = trainer.itemEmbeddings()
            let recall = validationRecall(split, parameters: trainer.parameters, itemEmbeddings: embeddings, config: config)
            let report = EpochReport(epoch: epoch, loss: total / Double(max(batches, 1)), validationRecall: recall,
                                     seconds: Date().timeIntervalSince(started))
            best.epochs.append(report)
            progress(report)
            if recall > best.bestValidationRecall {
                (best.parameters, best.itemEmbeddings) = (trainer.parameters, embeddings)
                (best.bestEpoch, best.bestValidationRecall) = (epoch, recall)
            } else if epoch - best.bestEpoch >= 3 {
                break
            }
        }
        return best
    }

    /// Mean recall@50 over the validation cases (`u` adapted as the config says).
    public static func validationRecall(
        _ split: NextItemSplit, parameters: RetrievalParameters, itemEmbeddings: Tensor, config: RetrievalConfig
    ) -> Double {
        let ranked = TwoTowerRanking.rank(split.validation, parameters: parameters, itemEmbeddings: itemEmbeddings,
                                          maxHistory: config.maxHistory, k: 50,
                                          adaptation: config.adaptation.map { ($0, config.temperature) })
        let values = zip(split.validation, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [50]).recall[50]! }
        return values.reduce(0, +) / Double(max(values.count, 1))
    }
}
