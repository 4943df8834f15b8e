import ArgumentParser
import Foundation
import Logging
import MetaTrain
import TensorCore

/// `metarec train`: train a model from CSV logs into a model directory.
struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an MMoE (or Shared-Bottom) model from CSV logs.",
        discussion: """
            Reads every input file in full before writing anything, so a malformed row \
            (reported as file:line:column) leaves an existing model directory untouched. \
            The new model is written whole beside the current one and published by replacing \
            OUT/CURRENT atomically: a kill at any instant leaves the old model or the new one. \
            Checkpoints go to OUT/checkpoint/ every epoch and every --checkpoint-seconds; \
            after a crash, run the same command with --resume (with no checkpoint yet, it \
            starts from scratch).
            """)

    @Option(help: "Model config (YAML).") var config: String
    @Option(help: "Training CSV log (optionally gzip).") var data: String
    @Option(help: "Validation CSV log: metrics per epoch, early stopping, best epoch kept.") var validation: String?
    @Option(help: "Model directory to write.") var out: String
    @Flag(help: "Continue from OUT/checkpoint/ after an interruption (from scratch when there is none).") var resume = false
    @Option(name: .customLong("init"), help: "Warm-start from another model directory.") var initialModel: String?
    @Option(help: "Skip and count up to N malformed rows instead of failing (default: config, 0).") var maxBadRows: Int?
    @Option(help: "Worker threads (default: config training.threads).") var threads: Int?
    @Option(help: "Epochs (default: config training.epochs).") var epochs: Int?
    @Option(help: "Seconds between mid-epoch checkpoints.") var checkpointSeconds: Double = 60
    @OptionGroup var logOptions: LogOptions

    func run() async throws {
        let logger = try logOptions.bootstrap()
        try reportingErrors {
            var job = TrainingJob(configPath: config, trainingPath: data, validationPath: validation, outputDirectory: out)
            job.resume = resume
            job.initialModel = initialModel
            job.maxBadRows = maxBadRows
            job.threads = threads
            job.epochs = epochs
            job.checkpointInterval = checkpointSeconds
            try job.run(progress: ProgressReporter(logger: logger))
        }
    }
}

/// Runs `body`; an error becomes one line on standard error and exit code 1.
/// Also applies the process-wide compute policy first: one OpenBLAS thread per call
/// (parallelism comes from MetaRec's own worker threads) and a warmed-up BLAS.
func reportingErrors(_ body: () throws -> Void) throws {
    BLASRuntime.threadCount = 1
    BLASRuntime.warmUp()
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
    }
}

/// Writes a line to standard error (an `error` record when the process logs JSON lines).
func printError(_ text: String) {
    if LogOptions.isJSON {
        Logger(label: "metarec").error("\(text)")
        return
    }
    var stream = StandardError()
    print(text, to: &stream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
