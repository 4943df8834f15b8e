import ArgumentParser
import Foundation
import Retrieval

/// `metarec retrieval`: two-tower candidate retrieval over the whole catalogue (docs/DESIGN.md §Retrieval).
struct RetrievalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "Two-tower retrieval: train on a MovieLens directory, evaluate recall@K / nDCG@K over the whole catalogue.",
        subcommands: [RetrievalTrain.self, RetrievalEval.self, RetrievalSynthetic.self])
}

/// `metarec retrieval train`.
struct RetrievalTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a two-tower model on ratings.csv + movies.csv (chronological split) and write a model directory.",
        discussion: """
            Per user, the last --targets items are test targets and the --targets before them validation \\
            targets; earlier items are training data (every position a next-item example, history = \\
            the previous --max-history items). After each epoch recall@50 on validation is measured; \\
            the best epoch is kept (stop after 3 epochs without improvement).
            """)

    @Option(help: "MovieLens directory (ratings.csv, movies.csv).") var data: String
    @Option(help: "Model directory to write.") var out: String
    @Option(help: "History encoder: bow (masked mean), gru, lstm or cnn (conv1d + max-pool).") var encoder: String = "bow"
    @Option(help: "GRU hidden width.") var gruHidden: Int = 64
    @Option(help: "LSTM hidden width.") var lstmHidden: Int = 64
    @Option(help: "CNN filters.") var cnnFilters: Int = 64
    @Option(help: "CNN window width in items (at most --max-history).") var cnnWidth: Int = 3
    @Option(help: "Embedding width d of u and v.") var dimension: Int = 64
    @Option(help: "Item-id / history embedding width e.") var embedding: Int = 32
    @Option(help: "Hidden width of both towers' MLPs.") var hidden: Int = 128
    @Option(help: "Softmax temperature tau (0.1: the validation choice on ml-latest-small, Sources/Retrieval/README.md).") var temperature: Float = RetrievalConfig.defaultTemperature
    @Option(help: "History items the user tower reads (L).") var maxHistory: Int = 50
    @Option(help: "Cross-batch negatives kept in the FIFO queue (0, the default: in-batch only; the queue lowered validation recall on ml-latest-small).")
    var queue: Int = RetrievalConfig.defaultQueueCapacity
    @Option(help: "Steps on in-batch negatives only before the queue joins the softmax.") var queueWarmup: Int = 1000
    @Flag(help: "Turn the logQ correction off.") var noLogq = false
    @Option(help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Batch size.") var batchSize: Int = 256
    @Option(help: "Maximum epochs.") var epochs: Int = 20
    @Option(help: "Targets per user for validation and for test (chronological protocol).") var targets: Int = 5
    @Option(help: "Protocol: chronological (per user, the last targets) or tflite (TF Lite's example: every position an example, history = the --max-history items before it, random 90/10 split).")
    var `protocol`: RetrievalProtocol = .chronological
    @Option(help: "Seed of the tflite protocol's random split (the same in retrieval eval).") var splitSeed: UInt64 = 1
    @Option(help: "Seed of the initialisation and the example order.") var seed: UInt64 = 1
    @Option(help: "Meta-train with per-request adaptation in the loop: gradient steps adapting u to the history's last items (0: off).")
    var adaptSteps: Int = 0
    @Option(help: "Step size of that adaptation, on the unit sphere.") var adaptRate: Float = 0.03
    @Option(help: "The most recent history items adapted on.") var adaptSupport: Int = 5

    func run() async throws {
        try reportingErrors {
            let log = try InteractionLog.readMovieLens(directory: data)
            let split = try `protocol`.split(log, targets: targets, context: maxHistory, seed: splitSeed)
            var config = RetrievalConfig(items: log.itemIDs.count, itemFeatures: log.genres.count)
            switch encoder {
            case "bow": config.encoder = .bagOfWords
            case "gru": config.encoder = .gru(hidden: gruHidden)
            case "lstm": config.encoder = .lstm(hidden: lstmHidden)
            case "cnn": config.encoder = .cnn(filters: cnnFilters, width: cnnWidth)
            default: throw ValidationError("--encoder must be bow, gru, lstm or cnn, got \(encoder)")
            }
            (config.dimension, config.embeddingWidth, config.hiddenWidth) = (dimension, embedding, hidden)
            (config.temperature, config.maxHistory, config.queueCapacity, config.logQCorrection) = (temperature, maxHistory, queue, !noLogq)
            config.queueWarmupSteps = queueWarmup
            (config.learningRate, config.batchSize, config.seed) = (learningRate, batchSize, seed)
            let adaptation = try UserAdaptation(steps: adaptSteps, rate: adaptRate, supportSize: adaptSupport)
            if adaptation.steps > 0 { config.adaptation = adaptation }
            try config.validate()
            print("data: \(log.userIDs.count) users, \(log.itemIDs.count) items, \(log.genres.count) genres; "
                  + "\(split.trainingPositions.count) training examples, \(split.validation.count) validation cases")
            print("model: \(config.encoder), d \(config.dimension), tau \(config.temperature), L \(config.maxHistory), "
                  + "queue \(config.queueCapacity) after \(config.queueWarmupSteps) steps, logQ \(config.logQCorrection), seed \(config.seed)"
                  + (config.adaptation.map { ", meta-trained with \($0.steps) adaptation steps (rate \($0.rate), last \($0.supportSize) items)" } ?? ""))
            let trained = RetrievalTraining.train(config: config, log: log, split: split, epochs: epochs) { r in
                print(String(format: "epoch %2d: loss %.4f, validation recall@50 %.4f (%.1f s)", r.epoch, r.loss, r.validationRecall, r.seconds))
            }
            let published = try RetrievalModelFiles.write(trained, config: config, catalogue: log.itemIDs, to: out)
            print(String(format: "best epoch %d (validation recall@50 %.4f); wrote %@ (index: %d items)", trained.bestEpoch, trained.bestValidationRecall, published, log.itemIDs.count))
        }
    }
}

/// How `retrieval train` and `retrieval eval` split a log into training, validation and test.
enum RetrievalProtocol: String, ExpressibleByArgument, CaseIterable {
    /// Per user, the last `targets` items are test targets, the `targets` before them validation targets.
    case chronological
    /// TensorFlow Lite's example: every position an example with its `context` previous items, a random 90/10 split.
    case tflite

    func split(_ log: InteractionLog, targets: Int, context: Int, seed: UInt64) throws -> NextItemSplit {
        switch self {
        case .chronological:
            guard targets >= 1 else { throw ValidationError("--targets must be >= 1, got \(targets)") }
            return NextItemSplit(log, targets: targets)
        case .tflite:
            guard context >= 1 else { throw ValidationError("the tflite protocol needs a context of >= 1 items, got \(context)") }
            return NextItemSplit.randomExamples(log, context: context, seed: seed)
        }
    }
}
