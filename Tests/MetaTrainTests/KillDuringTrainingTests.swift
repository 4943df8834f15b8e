import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

/// Issue 21's kill test: the real `metarec train`, SIGKILLed at instants spread over the whole
/// run — training batches, every phase of each checkpoint write and every phase of the final
/// model write and publish — must leave the target directory loading as the old model or the
/// new one, never a mix, and `--resume` must then succeed and end at the uninterrupted run's
/// model.
///
/// The kills are deterministic: the test-only hook `METAREC_TEST_KILL_AT=<n>` (`CrashPoint`)
/// makes the process SIGKILL itself at the `n`-th named instant, and `METAREC_TEST_KILL_AT=list`
/// names them all in an uninterrupted reference run. One training thread makes every run
/// replay the same instants and, as `ResumeTests` measured, the same weights.
@Suite(.serialized) struct KillDuringTrainingTests {
    /// Training instants killed at, besides every instant of the final write (spread evenly).
    static let trainingKills = 24

    struct Run {
        let dir: String, config: String, train: String, validation: String

        func arguments(_ out: String, _ extra: [String] = []) -> [String] {
            ["train", "--config", config, "--data", train, "--validation", validation, "--out", out,
             "--threads", "1", "--checkpoint-seconds", "0"] + extra
        }

        /// Runs `metarec train` into `out`, requiring a clean exit.
        func train(_ out: String, _ extra: [String] = [], environment: [String: String] = [:], log: String) throws -> String {
            let run = try MetaRecBinary.run(arguments(out, extra), log: dir + "/" + log, environment: environment)
            try #require(run.reason == .exit && run.status == 0, "\(log): metarec train failed:\n\(run.stderr)")
            return run.stderr
        }
    }

    static func makeRun() throws -> Run {
        let dir = TrainingFixture.temporaryDirectory("metarec-kill")
        var config = TrainingFixture.config
        config.training.epochs = 2
        let configPath = try TrainingFixture.writeConfig(config, in: dir)
        try TrainingFixture.goodLog(48).write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        let validation = ([TrainingFixture.header] + TrainingFixture.rows(24, seed: 1000)).joined(separator: "\n") + "\n"
        try validation.write(toFile: dir + "/validation.csv", atomically: true, encoding: .utf8)
        return Run(dir: dir, config: configPath, train: dir + "/train.csv", validation: dir + "/validation.csv")
    }

    /// The instants of a run, in order, from `crash point <n>: <name>` lines.
    static func points(in log: String) -> [String] {
        log.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("crash point "), let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[line.index(colon, offsetBy: 2)...])
        }
    }

    /// The largest absolute difference between two models' weights.
    static func maxDifference(_ a: ModelParameters, _ b: ModelParameters) -> Float {
        let other = Dictionary(uniqueKeysWithValues: b.namedTensors.map { ($0.name, $0.tensor.scalars) })
        var worst: Float = 0
        for (name, t) in a.namedTensors {
            guard let u = other[name], u.count == t.scalars.count else { return .infinity }
            for (p, q) in zip(t.scalars, u) { worst = max(worst, abs(p - q)) }
        }
        return worst
    }

    /// The instants to kill at: every one from the end of training on, and `trainingKills`
    /// spread evenly over training (the first and the last included).
    static func instants(_ points: [String]) -> [Int] {
        guard let finished = points.firstIndex(of: "train.finished") else { return [] }
        let spread = (0..<trainingKills).map { 1 + $0 * (finished - 1) / max(1, trainingKills - 1) }
        return Array(Set(spread + Array((finished + 1)...points.count))).sorted()
    }

    @Test func `SIGKILL at any instant leaves the old or the new model, and --resume then succeeds`() throws {
        try #require(MetaRecBinary.path != nil, "\(MetaRecBinary.notFoundMessage)")
        let started = Date()
        let run = try Self.makeRun()
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        let fm = FileManager.default

        // The old model (one epoch), then the uninterrupted new run over a copy of it (two epochs).
        let pristine = run.dir + "/old"
        _ = try run.train(pristine, ["--epochs", "1"], log: "old.log")
        let old = try LoadedModel(path: pristine)
        let referencePath = run.dir + "/reference"
        try fm.copyItem(atPath: pristine, toPath: referencePath)
        let points = Self.points(in: try run.train(referencePath, environment: ["METAREC_TEST_KILL_AT": "list"], log: "reference.log"))
        let reference = try LoadedModel(path: referencePath)
        try #require(Self.maxDifference(old.parameters, reference.parameters) > 0, "the old and new models must differ")
        let published = try #require(points.firstIndex(of: "model.published")) + 1
        let renamed = try #require(points.firstIndex(of: "model.renamed")) + 1
        let staged = try #require(points.firstIndex(of: "model.staged")) + 1
        for phase in ["train.batch", "checkpoint.published", "checkpoint.best.published", "model.embeddings-written",
                      "model.support-written", "model.manifest-written", "checkpoint.removing"] {
            #expect(points.contains(phase), "no crash point \(phase) in \(points)")
        }
        let instants = Self.instants(points)
        #expect(instants.count >= 20)

        var outcomes: [String] = []
        for i in instants {
            let name = points[i - 1]
            let target = run.dir + "/kill-\(i)"
            try fm.copyItem(atPath: pristine, toPath: target)
            let killed = try MetaRecBinary.run(run.arguments(target), log: run.dir + "/kill-\(i).log",
                                               environment: ["METAREC_TEST_KILL_AT": "\(i)"])
            #expect(killed.reason == .uncaughtSignal && killed.status == SIGKILL, "instant \(i) (\(name)): \(killed.stderr)")
            #expect(killed.stderr.contains("crash point \(i): \(name): SIGKILL"), "instant \(i) (\(name)): \(killed.stderr)")
            if i >= staged && i < renamed {
                #expect(try fm.contentsOfDirectory(atPath: target).contains { $0.hasPrefix(".staging-v-") },
                        "instant \(i) (\(name)): no staging directory, so the kill did not interrupt the write")
            }

            // Old or new, never a mix: every file verified against the manifest's checksums.
            let after = try LoadedModel(path: target)
            if i < published {
                #expect(after.manifest.modelVersion == old.manifest.modelVersion, "instant \(i) (\(name)): not the old model")
                #expect(after.parameters == old.parameters, "instant \(i) (\(name)): old manifest, other weights")
            } else {
                #expect(after.manifest.modelVersion != old.manifest.modelVersion, "instant \(i) (\(name)): not the new model")
                #expect(after.parameters == reference.parameters, "instant \(i) (\(name)): new manifest, other weights")
            }

            // --resume succeeds, ends at the uninterrupted run's weights, and leaves nothing stale.
            let log = try run.train(target, ["--resume"], log: "resume-\(i).log")
            let resumed = try LoadedModel(path: target)
            let difference = Self.maxDifference(resumed.parameters, reference.parameters)
            #expect(difference <= 1e-5, "instant \(i) (\(name)): resumed weights differ by \(difference)")
            #expect(resumed.manifest.epochsCompleted == reference.manifest.epochsCompleted)
            let left = try fm.contentsOfDirectory(atPath: target).filter { $0 != ModelWriterLock.fileName }
            #expect(left.allSatisfy { $0 == "CURRENT" || $0.hasPrefix("v-") } && left.count <= 3, "instant \(i) (\(name)): left \(left)")
            outcomes.append("\(i) \(name): \(i < published ? "old" : "new"), \(log.contains("starting from scratch") ? "scratch" : "resumed")")
            try fm.removeItem(atPath: target)
        }
        print("KillDuringTrainingTests: \(points.count) instants, killed at \(instants.count) in "
              + "\(Int(Date().timeIntervalSince(started))) s:\n  " + outcomes.joined(separator: "\n  "))
    }
}
