import Foundation
import ModelDescription
import Testing

/// `metarec federated` as a process: from a `metarec train` model to a model directory that
/// `LoadedModel` (eval, serve) reads, the same weights from two runs with one seed, progress
/// lines with the running (ε, δ), and one-line errors for bad flags.
@Suite struct FederatedCommandTests {
    static var binary: String { get throws { try #require(ExecutableSymbols.productsDirectory).appendingPathComponent("metarec").path } }

    /// A tiny log (7 users, two labels) with its config, and a centrally trained model; returns the directory.
    static func trained() throws -> String {
        let dir = NSTemporaryDirectory() + "/metarec-federated-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = ModelConfig(
            taskKey: "user", time: "ts",
            features: [.init(name: "user", kind: .categorical), .init(name: "item", kind: .categorical),
                       .init(name: "age", kind: .numeric(normalization: .standard))],
            labels: [.init(name: "like", kind: .binary), .init(name: "rating", kind: .regression)])
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.training.batchSize = 16
        config.training.epochs = 1
        config.training.threads = 1
        try config.yamlString().write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        let rows = (0..<84).map { j in "u\(j % 7),\(1_700_000_000 + j),i\(j % 11),\(20 + j % 50),\((j * 7 + j / 3) % 2),\(1 + (j * 5) % 5)" }
        try (["user,ts,item,age,like,rating"] + rows).joined(separator: "\n").appending("\n")
            .write(toFile: dir + "/log.csv", atomically: true, encoding: .utf8)
        let (status, _, stderr) = try ExportONNXTests.run(binary, ["train", "--config", dir + "/config.yaml", "--data", dir + "/log.csv",
                                                                   "--out", dir + "/central"])
        try #require(status == 0, "train: \(stderr)")
        return dir
    }

    static func arguments(_ dir: String, out: String) -> [String] {
        ["federated", "--config", dir + "/config.yaml", "--data", dir + "/log.csv", "--init", dir + "/central", "--out", dir + "/" + out,
         "--rounds", "3", "--clients-per-round", "4", "--local-steps", "2", "--clip-norm", "0.5", "--target-epsilon", "8", "--seed", "5"]
    }

    static func federated(_ dir: String, out: String, extra: [String] = []) throws -> (Int32, String) {
        let (status, _, stderr) = try ExportONNXTests.run(binary, arguments(dir, out: out) + extra)
        return (status, stderr)
    }

    @Test func `two runs with one seed write identical weights that eval can load`() throws {
        let dir = try Self.trained()
        let (a, logA) = try Self.federated(dir, out: "a"), (b, _) = try Self.federated(dir, out: "b", extra: ["--reset-towers"])
        let (c, _) = try Self.federated(dir, out: "c", extra: ["--reset-towers"])
        try #require(a == 0 && b == 0 && c == 0, "\(logA)")
        #expect(logA.contains("federated: 7 clients, 84 rows; 3 rounds"), "\(logA)")
        #expect(logA.contains("round 3/3:") && logA.contains("(δ 1e-05); like auc") && logA.contains("rating rmse"), "\(logA)")
        let central = try LoadedModel(path: dir + "/central")
        let (ma, mb, mc) = (try LoadedModel(path: dir + "/a"), try LoadedModel(path: dir + "/b"), try LoadedModel(path: dir + "/c"))
        #expect(mb.parameters == mc.parameters)
        #expect(ma.parameters.towers != mb.parameters.towers)
        #expect(ma.parameters.experts == central.parameters.experts && ma.parameters.towers != central.parameters.towers)
        let (status, _, stderr) = try ExportONNXTests.run(Self.binary, ["eval", "--model", dir + "/b", "--data", dir + "/log.csv", "--finetune", "on"])
        #expect(status == 0, "\(stderr)")
    }

    @Test func `a run killed at its first checkpoint resumes to the uninterrupted run's weights`() throws {
        let dir = try Self.trained()
        let (whole, log) = try Self.federated(dir, out: "whole", extra: ["--checkpoint-every", "1"])
        try #require(whole == 0, "\(log)")
        // METAREC_TEST_KILL_AT=1: SIGKILL at the first crash point, right after round 1's checkpoint.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary)
        process.arguments = Self.arguments(dir, out: "killed") + ["--checkpoint-every", "1"]
        process.environment = ProcessInfo.processInfo.environment.merging(["METAREC_TEST_KILL_AT": "1"]) { _, new in new }
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(FileManager.default.fileExists(atPath: dir + "/killed/checkpoint/federated.json"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/killed/CURRENT"))
        let (resumed, resumeLog) = try Self.federated(dir, out: "killed", extra: ["--checkpoint-every", "1", "--resume"])
        try #require(resumed == 0, "\(resumeLog)")
        #expect(resumeLog.contains("resuming after round 1"), "\(resumeLog)")
        #expect(try LoadedModel(path: dir + "/killed").parameters == LoadedModel(path: dir + "/whole").parameters)
        #expect(!FileManager.default.fileExists(atPath: dir + "/killed/checkpoint/federated.json"))
    }

    @Test(arguments: [
        (["--client-rate", "0.5"], "give one of --client-rate and --clients-per-round"),
        (["--noise-multiplier", "1"], "give --noise-multiplier or --target-epsilon, not both"),
        (["--clip-norm", "0"], "--clip-norm: must be > 0"),
        (["--noise", "local"], "--max-participations: local noise needs a participation cap"),
        (["--clients-per-round", "0"], "--clients-per-round must be >= 1"),
    ])
    func `bad flags are refused with a one-line message`(extra: [String], message: String) throws {
        let dir = NSTemporaryDirectory() + "/metarec-federated-\(UUID().uuidString)"
        var args = ["federated", "--config", "c.yaml", "--data", "d.csv", "--init", "m", "--out", dir, "--target-epsilon", "3"]
        if !extra.contains("--clients-per-round") { args += ["--clients-per-round", "4"] }
        let (status, _, stderr) = try ExportONNXTests.run(Self.binary, args + extra)
        #expect(status != 0 && stderr.contains(message), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func `more clients a round than the log has is an error naming the flag`() throws {
        let dir = try Self.trained()
        let (status, stderr) = try Self.federated(dir, out: "x", extra: ["--clients-per-round", "9"])
        #expect(status != 0 && stderr.contains("--clients-per-round: must be in 1...7"), "\(stderr)")
    }
}
