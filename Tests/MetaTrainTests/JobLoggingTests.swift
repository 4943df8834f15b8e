import Foundation
import InMemoryLogging
import Logging
import ModelDescription
import Testing
@testable import MetaTrain

/// The training and evaluation jobs' events reach the process's `Logger` (the CLI's
/// `--log-level` / `--log-format` handler) as records with an `event` key.
@Suite struct JobLoggingTests {
    static func logger() -> (Logger, InMemoryLogHandler) {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "metarec-test", factory: { _ in handler })
        logger.logLevel = .trace
        return (logger, handler)
    }

    static func events(_ handler: InMemoryLogHandler, _ name: String) -> [InMemoryLogHandler.Entry] {
        handler.entries.filter { $0.metadata["event"]?.description == name }
    }

    @Test func `training logs bad rows skipped, checkpoints written and the early stop`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-logging")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TrainingFixture.config
        config.training.epochs = 8
        config.training.earlyStopping = .patience(epochs: 1)
        let configPath = try TrainingFixture.writeConfig(config, in: dir)
        var lines = [TrainingFixture.header] + TrainingFixture.rows(48)
        lines.insert("u3,1700000500,a,31", at: 11)  // ragged
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        // Validation rows with every label flipped: the better training fits, the worse validation gets.
        let flipped = TrainingFixture.rows(48).map { row in
            var fields = row.split(separator: ",").map(String.init)
            fields[4] = fields[4] == "1" ? "0" : "1"
            return fields.joined(separator: ",")
        }
        try (([TrainingFixture.header] + flipped).joined(separator: "\n") + "\n").write(toFile: dir + "/validation.csv", atomically: true, encoding: .utf8)

        let (logger, handler) = Self.logger()
        var job = TrainingJob(configPath: configPath, trainingPath: dir + "/train.csv", validationPath: dir + "/validation.csv",
                              outputDirectory: dir + "/model")
        job.maxBadRows = 1
        let (report, _) = try job.run(progress: ProgressReporter(logger: logger))

        let badRows = try #require(Self.events(handler, "bad_rows_skipped").first)
        #expect(badRows.level == .warning)
        #expect(badRows.metadata["bad_rows"]?.description == "1")
        let checkpoints = Self.events(handler, "checkpoint_written")
        #expect(checkpoints.count >= report.epochsCompleted, "one per epoch at least")
        #expect(checkpoints.allSatisfy { $0.metadata["directory"]?.description.hasPrefix(dir + "/model") == true })
        try #require(report.stoppedEarly, "flipped validation labels should stop training early")
        let stop = try #require(Self.events(handler, "early_stop").first)
        #expect(stop.level == .notice)
        #expect(stop.metadata["epoch"]?.description == "\(report.epochsCompleted)")
        // The epoch summaries are records too (no bare lines on standard error).
        #expect(handler.entries.contains { $0.message.description.hasPrefix("epoch 1/8") })
    }

    @Test func `evaluation logs the bad rows it skipped`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-eval-logging")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        var lines = [TrainingFixture.header] + TrainingFixture.rows(20, seed: 3)
        lines.insert("u4,1700000600,b|c,forty,0", at: 5)
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/test.csv", atomically: true, encoding: .utf8)
        let (logger, handler) = Self.logger()
        var job = EvaluationJob(modelPath: model, dataPath: dir + "/test.csv")
        job.maxBadRows = 1
        job.logger = logger
        _ = try job.run()
        let skipped = try #require(Self.events(handler, "bad_rows_skipped").first)
        #expect(skipped.metadata["bad_rows"]?.description == "1")
        #expect(skipped.metadata["file"]?.description == dir + "/test.csv")
    }
}
