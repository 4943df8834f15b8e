import Foundation
import ModelDescription
import ModelMath
import TensorCore

/// Where a training run reads its rows.
public struct TrainingData {
    /// Starts a new pass over the training rows (called once per epoch). The stream's `next()`
    /// runs on a worker-pool helper, overlapping the update (see ``BatchStream``).
    public var trainingPass: () throws -> any BatchStream
    /// Starts a pass over the validation rows, when there are any.
    public var validationPass: (() throws -> any BatchStream)?
    /// Training rows per epoch, for the ETA (nil when unknown).
    public var trainingRows: Int?
    /// Fingerprint of the training data, recorded in checkpoints and the manifest.
    public var fingerprint: String

    public init(trainingPass: @escaping () throws -> any BatchStream, validationPass: (() throws -> any BatchStream)?,
                trainingRows: Int?, fingerprint: String) {
        self.trainingPass = trainingPass
        self.validationPass = validationPass
        self.trainingRows = trainingRows
        self.fingerprint = fingerprint
    }
}

/// What a finished training run reports.
public struct TrainingReport: Sendable {
    public var epochsCompleted: Int
    public var rowsTrained: Int
    public var stoppedEarly: Bool
    /// Validation metrics of the returned (best) parameters, by task in config order.
    public var validationMetrics: [TaskMetrics]
    /// Training rows per second over the whole run.
    public var rowsPerSecond: Double
}

/// Trains the base model (`docs/DESIGN.md` §Math, `L_base`): mini-batch steps of the configured
/// dense optimiser (``DenseOptimizer``: Adam, AdaGrad or SGD),
/// the configured row optimiser on embeddings, data-parallel over `training.threads`,
/// validation after each epoch with early stopping (the best epoch's weights are kept),
/// and crash-safe checkpoints.
public final class Trainer {
    public let config: ModelConfig
    public let spec: NetworkSpec
    public let layout: InputLayout
    public let tasks: [TaskSpec]
    public private(set) var parameters: ModelParameters
    public private(set) var optimizer: DenseOptimizer
    public private(set) var state = TrainingState()
    /// The best validation epoch's parameters (the current ones when there is no validation).
    public private(set) var bestParameters: ModelParameters
    public let table: any EmbeddingTable
    private let step: DataParallelStep
    private let checkpoint: TrainingCheckpoint?
    /// Seconds between mid-epoch checkpoints (epoch ends always checkpoint).
    public var checkpointInterval: Double = 60

    /// - Parameters:
    ///   - initialParameters: warm start (`--init`); fresh initialisation from the seed otherwise.
    ///   - checkpoint: where to write (and resume from) checkpoints; nil disables them.
    public init(config: ModelConfig, table: any EmbeddingTable, initialParameters: ModelParameters? = nil,
                checkpoint: TrainingCheckpoint?) {
        self.config = config
        self.spec = config.networkSpec
        self.layout = config.inputLayout
        self.tasks = config.taskSpecs
        self.table = table
        let parameters = initialParameters ?? ModelParameters(spec: spec, seed: config.model.seed)
        self.parameters = parameters
        self.bestParameters = parameters
        self.optimizer = DenseOptimizer(like: parameters, config: config)
        self.step = DataParallelStep(spec: spec, layout: layout, tasks: tasks, threads: max(1, config.training.threads),
                                     meta: MetaLearning(config: config), like: parameters)
        self.checkpoint = checkpoint
    }

    /// Continues from the latest checkpoint (`--resume`).
    /// - Throws: when there is none, or it was made from other data or another config.
    public func resume(expectingFingerprint fingerprint: String) throws {
        guard let checkpoint else { throw CheckpointError.io(path: "checkpoint", reason: "checkpoints are disabled") }
        let restored = try checkpoint.restore(parameters: &parameters, optimizer: &optimizer)
        guard restored.dataFingerprint == fingerprint else {
            throw CheckpointError.mismatch(path: checkpoint.directory,
                                           reason: "checkpoint was trained on data \(restored.dataFingerprint), this data is \(fingerprint)")
        }
        state = restored
        bestParameters = parameters
        if state.bestEpoch != nil {
            // The best weights; the live embedding rows are reloaded from the generation above.
            var best = parameters
            let liveEmbeddings = checkpoint.directory + "/resume-live.snapshot"
            try checkpoint.saveEmbeddings(liveEmbeddings)
            if try checkpoint.restoreBest(parameters: &best) { bestParameters = best }
            try checkpoint.loadEmbeddings(liveEmbeddings)
            try? FileManager.default.removeItem(atPath: liveEmbeddings)
        }
    }

    /// Runs the remaining epochs.
    public func train(data: TrainingData, progress: ProgressReporter) throws -> TrainingReport {
        state.dataFingerprint = data.fingerprint
        let start = Date()
        let rowsAtStart = state.rowsTrained
        var lastCheckpoint = Date()
        var lastMetrics: [TaskMetrics] = []
        let epochs = config.training.epochs
        while state.epoch < epochs && !state.finished {
            let epoch = state.epoch
            var stream = ShuffledBatches(AnyBatchStream(try data.trainingPass()), batchSize: config.training.batchSize,
                                         bufferRows: config.training.shuffle.bufferRows,
                                         seed: config.training.seed &+ UInt64(epoch) &* 0x9E37_79B9,
                                         unit: config.meta.enabled ? .tasks(chunkRows: config.meta.taskChunkRows) : .rows)
            var batchIndex = 0
            var lossSums = [Double](repeating: 0, count: tasks.count)
            var lossBatches = [Int](repeating: 0, count: tasks.count)
            let epochStart = Date()
            var epochRows = 0
            var upcoming = try stream.next()
            while let batch = upcoming {
                defer { batchIndex += 1 }
                if batchIndex < state.batchesDone {  // already applied before a resume
                    upcoming = try stream.next()
                    continue
                }
                let splitSeed = config.training.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &* 1_000_003 &+ UInt64(batchIndex)
                let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: splitSeed).base
                // The next batch is read while this one's update is applied.
                let next = step.applyUpdate(optimizer: &optimizer, parameters: &parameters, table: table, readingNextFrom: &stream)
                for (k, l) in losses.enumerated() where !l.isNaN {
                    lossSums[k] += l
                    lossBatches[k] += 1
                }
                state.batchesDone = batchIndex + 1
                state.rowsTrained += batch.count
                state.optimizerStep = optimizer.step
                epochRows += batch.count
                let elapsed = Date().timeIntervalSince(epochStart)
                progress.update(self.progressLine(epoch: epoch, rows: epochRows, elapsed: elapsed, total: data.trainingRows,
                                                  lossSums: lossSums, lossBatches: lossBatches))
                CrashPoint.reached("train.batch")
                if let checkpoint, Date().timeIntervalSince(lastCheckpoint) >= checkpointInterval {
                    try saveCheckpoint(checkpoint, progress: progress)
                    lastCheckpoint = Date()
                }
                upcoming = try next.get()
            }
            state.epoch += 1
            state.batchesDone = 0
            var summary = "epoch \(epoch + 1)/\(epochs): \(epochRows) rows in \(duration(Date().timeIntervalSince(epochStart)))"
            if let metrics = try validate(epoch: epoch, data: data, summary: &summary) { lastMetrics = metrics }
            progress.line(summary)
            if state.finished, let best = state.bestEpoch {
                progress.log(.notice, "early stop after epoch \(epoch + 1): best epoch \(best + 1)",
                             metadata: ["event": "early_stop", "epoch": "\(epoch + 1)", "best_epoch": "\(best + 1)"])
            }
            if let checkpoint {
                try saveCheckpoint(checkpoint, progress: progress)
                lastCheckpoint = Date()
            }
        }
        state.finished = true
        // Early stopping returns the best epoch: its weights and its embedding rows.
        if let best = state.bestEpoch, best != state.epoch - 1, let checkpoint {
            var restored = parameters
            if try checkpoint.restoreBest(parameters: &restored) { bestParameters = restored }
        }
        let seconds = Date().timeIntervalSince(start)
        return TrainingReport(epochsCompleted: state.epoch, rowsTrained: state.rowsTrained,
                              stoppedEarly: state.epoch < epochs, validationMetrics: lastMetrics,
                              rowsPerSecond: Double(state.rowsTrained - rowsAtStart) / max(seconds, 1e-9))
    }

    /// Saves a resumable checkpoint and logs it.
    private func saveCheckpoint(_ checkpoint: TrainingCheckpoint, progress: ProgressReporter) throws {
        try checkpoint.save(parameters: parameters, optimizer: optimizer, state: state)
        progress.log(.info, "checkpoint written", metadata: [
            "event": "checkpoint_written", "directory": "\(checkpoint.directory)",
            "epoch": "\(state.epoch)", "batches_done": "\(state.batchesDone)",
        ])
    }

    /// Validates the parameters after `epoch`, keeps them when they are the best so far (with a
    /// best checkpoint), and finishes training after `patience` epochs without improvement.
    /// Without validation data every epoch's parameters are the best.
    /// - Returns: the validation metrics when this epoch is the best so far; the losses and any
    ///   early stop are appended to `summary`.
    private func validate(epoch: Int, data: TrainingData, summary: inout String) throws -> [TaskMetrics]? {
        guard let validationPass = data.validationPass else {
            bestParameters = parameters
            return nil
        }
        var evaluator = Evaluator(spec: spec, layout: layout, tasks: tasks)
        var validation = AnyBatchStream(try validationPass())
        let (metrics, loss) = try evaluator.evaluate(parameters, stream: &validation, table: table)
        summary += "; validation loss \(compact(loss)); " + zip(tasks, metrics).map { "\($0.name) \($1.summary)" }.joined(separator: "; ")
        if state.bestValidationLoss.map({ loss < $0 }) ?? true {
            state.bestValidationLoss = loss
            state.bestEpoch = epoch
            state.epochsWithoutImprovement = 0
            bestParameters = parameters
            try checkpoint?.saveBest(parameters: parameters)
            return metrics
        }
        state.epochsWithoutImprovement += 1
        if case .patience(let patience) = config.training.earlyStopping, state.epochsWithoutImprovement >= patience {
            state.finished = true
            summary += "; stopping early (best epoch \((state.bestEpoch ?? 0) + 1))"
        }
        return nil
    }

    private func progressLine(epoch: Int, rows: Int, elapsed: Double, total: Int?, lossSums: [Double], lossBatches: [Int]) -> String {
        let rate = Double(rows) / max(elapsed, 1e-9)
        var line = "epoch \(epoch + 1)/\(config.training.epochs)  \(rows) rows  \(Int(rate)) rows/s"
        for (k, task) in tasks.enumerated() where lossBatches[k] > 0 {
            line += "  \(task.name) \(compact(lossSums[k] / Double(lossBatches[k])))"
        }
        if let total, total > rows { line += "  ETA \(duration(Double(total - rows) / max(rate, 1e-9)))" }
        return line
    }
}

/// Type-erases a ``BatchStream``.
public struct AnyBatchStream: BatchStream {
    private var base: any BatchStream
    public init(_ base: any BatchStream) { self.base = base }
    public mutating func next() throws -> EncodedBatch? { try base.next() }
}

extension ModelConfig.Shuffle {
    /// Rows in the shuffle buffer (0 = no shuffling).
    var bufferRows: Int {
        switch self {
        case .none: 0
        case .buffer(let rows): rows
        }
    }
}
