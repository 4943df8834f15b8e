import Foundation
import ModelDescription
import ModelMath
@testable import MetaTrain

/// Tiny end-to-end training fixtures shared by the `TrainingJob` error, resume and interop tests:
/// a five-column log (`user,ts,genres,age,like`), a config small enough that a debug build
/// trains it in well under a second, and a recursive snapshot of a directory.
enum TrainingFixture {
    static let header = "user,ts,genres,age,like"

    /// The config of the tiny logs: user is the task key and a feature; two labels would
    /// need a second column, one is enough here.
    static var config: ModelConfig {
        var config = ModelConfig(
            taskKey: "user", time: "ts",
            features: [
                .init(name: "user", kind: .categorical),
                .init(name: "genres", kind: .multiCategorical(separator: "|", pooling: .mean)),
                .init(name: "age", kind: .numeric(normalization: .standard)),
            ],
            labels: [.init(name: "like", kind: .binary)])
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.training.batchSize = 16
        config.training.epochs = 1
        config.training.threads = 1
        config.training.shuffle = .buffer(rows: 64)
        return config
    }

    /// `count` well-formed data rows (no header), deterministic.
    static func rows(_ count: Int, seed: Int = 0) -> [String] {
        let genres = ["a", "b", "c", "d"]
        return (0..<count).map { i in
            let j = i + seed
            return "u\(j % 7),\(1_700_000_000 + j),\(genres[j % 4])|\(genres[(j / 4) % 4]),\(20 + j % 50),\((j * 7 + j / 3) % 2)"
        }
    }

    /// A header plus `count` good rows, as text.
    static func goodLog(_ count: Int = 48) -> String {
        ([header] + rows(count)).joined(separator: "\n") + "\n"
    }

    /// Writes the config to `directory/config.yaml` and returns its path.
    static func writeConfig(_ config: ModelConfig = TrainingFixture.config, in directory: String) throws -> String {
        let path = directory + "/config.yaml"
        try config.yamlString().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Trains a complete model from a good log into `directory/model` and returns its path.
    static func trainModel(in directory: String, config: ModelConfig = TrainingFixture.config) throws -> String {
        let configPath = try writeConfig(config, in: directory)
        let data = directory + "/good.csv"
        try goodLog().write(toFile: data, atomically: true, encoding: .utf8)
        let model = directory + "/model"
        try TrainingJob(configPath: configPath, trainingPath: data, validationPath: nil, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true))
        return model
    }

    /// Re-records the checksums in a published model's manifest after a test edited its files on purpose.
    static func recordChecksums(of model: String) throws {
        let directory = try ModelDirectory.resolve(model)
        var manifest = try directory.readJSON(ModelManifest.self, from: directory.manifestPath)
        manifest.files = try directory.fileChecksums()
        try directory.writeJSON(manifest, to: directory.manifestPath)
    }

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory(_ label: String) -> String {
        var template = Array("\(NSTemporaryDirectory())/\(label).XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(path != nil, "mkdtemp failed")
        return String(cString: path!)
    }
}

/// Everything observable about a directory tree: per relative path, the kind, the contents
/// (files), the inode and the modification time. Two snapshots are equal only if nothing was
/// added, removed, rewritten (even with the same bytes: an atomic rename changes the inode)
/// or touched.
struct DirectorySnapshot: Equatable {
    struct Entry: Equatable {
        var isDirectory: Bool
        var contents: Data?
        var inode: UInt64
        var modified: Date?
    }

    let entries: [String: Entry]

    init(_ root: String) throws {
        var entries: [String: Entry] = [:]
        let fm = FileManager.default
        func add(_ relative: String) throws {
            let full = relative.isEmpty ? root : root + "/" + relative
            let attributes = try fm.attributesOfItem(atPath: full)
            let isDirectory = (attributes[.type] as? FileAttributeType) == .typeDirectory
            entries[relative.isEmpty ? "." : relative] = Entry(
                isDirectory: isDirectory,
                contents: isDirectory ? nil : try Data(contentsOf: URL(fileURLWithPath: full)),
                inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
                modified: attributes[.modificationDate] as? Date)
            if isDirectory {
                for name in try fm.contentsOfDirectory(atPath: full).sorted() {
                    try add(relative.isEmpty ? name : relative + "/" + name)
                }
            }
        }
        try add("")
        self.entries = entries
    }

    /// Sorted relative paths of the files (not directories).
    var files: [String] { entries.filter { !$0.value.isDirectory }.keys.sorted() }

    /// A readable list of what differs from `other` (empty when equal).
    func differences(from other: DirectorySnapshot) -> [String] {
        var out: [String] = []
        for path in Set(entries.keys).union(other.entries.keys).sorted() {
            switch (other.entries[path], entries[path]) {
            case (nil, _?): out.append("added \(path)")
            case (_?, nil): out.append("removed \(path)")
            case let (before?, after?) where before != after:
                var what: [String] = []
                if before.contents != after.contents { what.append("contents") }
                if before.inode != after.inode { what.append("inode") }
                if before.modified != after.modified { what.append("mtime") }
                if before.isDirectory != after.isDirectory { what.append("kind") }
                out.append("changed \(path) (\(what.joined(separator: ", ")))")
            default: break
            }
        }
        return out
    }
}

/// The `metarec` executable of the current build, for tests that need a real child process
/// (exit codes, `kill -9`). `swift test` builds every product into the directory that holds
/// the test bundle, so the binary sits next to it; `$METAREC_BIN` overrides.
enum MetaRecBinary {
    static let path: String? = {
        let fm = FileManager.default
        if let override = ProcessInfo.processInfo.environment["METAREC_BIN"], !override.isEmpty {
            return fm.isExecutableFile(atPath: override) ? override : nil
        }
        var candidates: [URL] = []
        // Linux: the test runner is `<products>/MetaRecPackageTests.xctest`.
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath())
        if let main = Bundle.main.executableURL { candidates.append(main.resolvingSymlinksInPath()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath())
        for executable in candidates {
            // Walk up from the executable (macOS nests it in `X.xctest/Contents/MacOS/`).
            var directory = executable.deletingLastPathComponent()
            for _ in 0..<4 {
                let binary = directory.appendingPathComponent("metarec").path
                if fm.isExecutableFile(atPath: binary) { return binary }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }()

    /// Why the binary was not found (for test failure messages).
    static var notFoundMessage: String {
        "the metarec executable was not found next to the test bundle (\(CommandLine.arguments[0])); "
            + "run the tests with `swift test` (which builds every product) or set METAREC_BIN"
    }

    /// Runs `metarec arguments…` to completion, returning its exit status and standard error.
    static func run(_ arguments: [String], log: String, environment extra: [String: String] = [:])
        throws -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
        let process = try start(arguments, log: log, environment: extra)
        process.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (process.terminationStatus, process.terminationReason, stderr)
    }

    /// Starts `metarec arguments…` with standard output and error going to `log`, with `extra`
    /// added to the environment.
    static func start(_ arguments: [String], log: String, environment extra: [String: String] = [:]) throws -> Process {
        guard let path else { throw BinaryNotFound() }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        return process
    }

    struct BinaryNotFound: Error, CustomStringConvertible {
        var description: String { MetaRecBinary.notFoundMessage }
    }
}

extension TrainingFixture {
    /// Each task's base scores of `data` per user, from `metarec eval`'s network pass and from
    /// the fine-tuned evaluation's base path (the bottom, then each task's tower): `(network,
    /// perTask)`, each `"user/task"` → its scores sorted (the two paths order rows differently).
    static func baseScoresBothWays(modelPath: String, dataPath: String) throws -> (network: [String: [Double]], perTask: [String: [Double]]) {
        let job = EvaluationJob(modelPath: modelPath, dataPath: dataPath)
        let plain = try job.runPerUser(options: PerUserOptions(ks: [5], resamples: 10))
        let tuned = try job.runFineTunedPerUser(source: .supportStore, steps: 1, learningRate: 0.05,
                                                options: PerUserOptions(ks: [5], resamples: 10))
        func byUser(_ rows: ScoredRows) -> [String: [Double]] {
            var out: [String: [Double]] = [:]
            for r in rows.rows { out[r.user + "/" + r.task, default: []].append(r.score) }
            return out.mapValues { $0.sorted() }
        }
        return (byUser(plain.base), byUser(tuned.base))
    }
}
