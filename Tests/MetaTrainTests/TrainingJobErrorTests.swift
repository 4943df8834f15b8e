import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

/// `metarec train` on malformed logs (issue 3, "done when"): the error is one line naming
/// `file:line:column`, training throws, and an existing model directory is left exactly as it
/// was — same files, same bytes, same inodes and modification times.
@Suite struct TrainingJobErrorTests {
    /// One malformed log. Line numbers are 1-based physical lines (the header is line 1);
    /// columns are 1-based CSV fields of `user,ts,genres,age,like`.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        /// The expected `:line:column: reason` right after the file path.
        var location: String
        var reason: String
        /// The malformed file is the validation log (the training log is good).
        var inValidation = false

        var testDescription: String { name }

        /// Four good rows (lines 2–5), `bad` on line 6, then four more good rows.
        static func withBadRow(_ name: String, _ bad: [UInt8], location: String, reason: String,
                               inValidation: Bool = false) -> Case {
            let good = TrainingFixture.rows(8)
            var bytes = Array((TrainingFixture.header + "\n" + good[0..<4].joined(separator: "\n") + "\n").utf8)
            bytes += bad + [0x0A]
            bytes += Array((good[4...].joined(separator: "\n") + "\n").utf8)
            return Case(name: name, bytes: bytes, location: location, reason: reason, inValidation: inValidation)
        }
    }

    static let cases: [Case] = [
        Case(name: "missing column",
             bytes: Array("user,ts,genres,like\nu1,1700000000,a|b,1\nu2,1700000001,c,0\n".utf8),
             location: ":1:1: ", reason: "missing column \"age\""),
        .withBadRow("non-numeric number", Array("u1,1700000100,a|b,abc,1".utf8),
                    location: ":6:4: ", reason: "column \"age\""),
        .withBadRow("ragged row", Array("u1,1700000100,a|b,30".utf8),
                    location: ":6:5: ", reason: "ragged row: 4 fields, the header has 5"),
        .withBadRow("unterminated quote", Array("u1,1700000100,\"a|b,30,1".utf8),
                    location: ":6:3: ", reason: "unterminated quote"),
        .withBadRow("invalid UTF-8", Array("u1,1700000100,a".utf8) + [0xFF, 0xFE] + Array("b,30,1".utf8),
                    location: ":6:3: ", reason: "invalid UTF-8"),
        Case(name: "empty file", bytes: [], location: ":1:1: ", reason: "empty file"),
        Case(name: "header only", bytes: Array((TrainingFixture.header + "\n").utf8),
             location: ":2:1: ", reason: "header only"),
        .withBadRow("ragged row in the validation log", Array("u1,1700000100,a|b,30,1,extra".utf8),
                    location: ":6:6: ", reason: "ragged row: 6 fields, the header has 5", inValidation: true),
    ]

    @Test(arguments: cases)
    func `a malformed log fails with file:line:column and leaves the model untouched`(_ c: Case) throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-error")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let before = try DirectorySnapshot(model)
        #expect(before.files.contains("CURRENT") && before.files.contains { $0.hasSuffix("/model.safetensors") }
                && before.files.contains { $0.hasSuffix("/manifest.json") })

        let bad = dir + "/bad.csv"
        try Data(c.bytes).write(to: URL(fileURLWithPath: bad))
        let good = dir + "/good.csv"
        var job = TrainingJob(configPath: dir + "/config.yaml", trainingPath: c.inValidation ? good : bad,
                              validationPath: c.inValidation ? bad : nil, outputDirectory: model)
        job.epochs = 1
        let error = try #require(throws: DataError.self) { try job.run(progress: ProgressReporter(quiet: true)) }

        let line = error.description
        #expect(line.hasPrefix(bad + c.location), "\(line)")
        #expect(line.contains(c.reason), "\(line)")
        #expect(!line.contains("\n"), "not one line: \(line)")
        let after = try DirectorySnapshot(model)
        #expect(after == before, "model directory changed: \(after.differences(from: before))")
    }

    /// The control: the snapshot comparison has teeth — training good data into the same
    /// directory is seen as a change.
    @Test func `retraining with good data does change the snapshot`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-error")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let before = try DirectorySnapshot(model)
        let job = TrainingJob(configPath: dir + "/config.yaml", trainingPath: dir + "/good.csv", validationPath: nil,
                              outputDirectory: model)
        try job.run(progress: ProgressReporter(quiet: true))
        let changed = try DirectorySnapshot(model).differences(from: before)
        let version = "v-" + (try LoadedModel(path: model)).manifest.modelVersion
        #expect(changed.contains { $0.hasPrefix("changed CURRENT") }, "\(changed)")
        #expect(changed.contains("added \(version)/manifest.json"), "\(changed)")
        #expect(changed.contains("added \(version)/model.safetensors"), "\(changed)")
    }

    /// A small scene's validation rows may hold one class only: its AUC is undefined (NaN), which
    /// JSON cannot carry; the model is still written, the manifest without that metric.
    @Test func `a validation split of one class writes the model, without the undefined AUC`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-one-class")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try TrainingFixture.writeConfig(in: dir)
        let (train, validation) = (dir + "/train.csv", dir + "/validation.csv")
        try TrainingFixture.goodLog().write(toFile: train, atomically: true, encoding: .utf8)
        let positives = TrainingFixture.rows(40, seed: 100).filter { $0.hasSuffix(",1") }
        try ([TrainingFixture.header] + positives).joined(separator: "\n").appending("\n").write(toFile: validation, atomically: true, encoding: .utf8)
        let model = dir + "/model"
        let manifest = try TrainingJob(configPath: config, trainingPath: train, validationPath: validation, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true)).manifest
        #expect(!positives.isEmpty && manifest.metrics["like"]?["auc"] == nil && manifest.metrics["like"]?["logloss"] != nil)
        #expect(try LoadedModel(path: model).manifest.metrics == manifest.metrics, "the model loads")
    }

    @Test func `bad input does not create a missing model directory`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-error")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try TrainingFixture.writeConfig(in: dir)
        let bad = dir + "/bad.csv"
        try (TrainingFixture.header + "\nu1,1,a,x,1\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let model = dir + "/never"
        let job = TrainingJob(configPath: config, trainingPath: bad, validationPath: nil, outputDirectory: model)
        #expect(throws: DataError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
        #expect(!FileManager.default.fileExists(atPath: model))
    }

    @Test func `max-bad-rows skips and counts bad rows, and one more than the limit fails`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-job-badrows")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try TrainingFixture.writeConfig(in: dir)
        // 40 good rows; a ragged row on line 12 and a non-numeric age on line 23.
        var lines = [TrainingFixture.header] + TrainingFixture.rows(40)
        lines.insert("u3,1700000500,a,31", at: 11)
        lines.insert("u4,1700000600,b|c,forty,0", at: 22)
        let data = dir + "/some-bad.csv"
        try (lines.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)

        let profile = try DataProfile.fit(path: data, config: TrainingFixture.config, options: CSVReadOptions(maxBadRows: 2))
        #expect(profile.rows == 40)
        #expect(profile.badRows == 2)

        var job = TrainingJob(configPath: config, trainingPath: data, validationPath: nil, outputDirectory: dir + "/model")
        job.maxBadRows = 2
        let (report, manifest) = try job.run(progress: ProgressReporter(quiet: true))
        #expect(report.rowsTrained == 40)  // one epoch over the good rows only
        #expect(manifest.rowsTrained == 40)
        _ = try LoadedModel(path: dir + "/model")

        // One bad row allowed: the second one fails, named by its position, and nothing is written.
        job.maxBadRows = 1
        job.outputDirectory = dir + "/model-1"
        let error = try #require(throws: DataError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
        #expect(error.description.hasPrefix(data + ":23:4: "), "\(error)")
        #expect(error.description.contains("max_bad_rows = 1"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/model-1"))
    }

    @Test func `the metarec binary prints one error line and exits non-zero`() throws {
        try #require(MetaRecBinary.path != nil, "\(MetaRecBinary.notFoundMessage)")
        let dir = TrainingFixture.temporaryDirectory("metarec-job-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let before = try DirectorySnapshot(model)
        let bad = dir + "/bad.csv"
        try (TrainingFixture.header + "\nu1,1700000000,a,30,1\nu2,1700000001,b,31\n")
            .write(toFile: bad, atomically: true, encoding: .utf8)

        let result = try MetaRecBinary.run(["train", "--config", dir + "/config.yaml", "--data", bad, "--out", model],
                                           log: dir + "/stderr.txt")
        #expect(result.reason == .exit && result.status != 0)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.last == "error: \(bad):3:5: ragged row: 4 fields, the header has 5", "\(result.stderr)")
        #expect(lines.filter { $0.hasPrefix("error:") }.count == 1, "\(result.stderr)")
        #expect(try DirectorySnapshot(model) == before)
    }
}
