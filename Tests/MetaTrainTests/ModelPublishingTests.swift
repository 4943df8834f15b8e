import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

/// The published model layout (`CURRENT` → `v-<version>/`), its checksums, format-1
/// directories, cleaning after kills and `--resume` without a checkpoint.
@Suite struct ModelPublishingTests {
    static let files = ["config.yaml", "preprocessing.json", "model.safetensors", "embeddings.snapshot", "support.snapshot"]

    @Test func `train publishes one version behind CURRENT, with each file's size and CRC-32 in the manifest`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let loaded = try LoadedModel(path: model)
        let name = "v-" + loaded.manifest.modelVersion
        #expect(try FileManager.default.contentsOfDirectory(atPath: model).sorted() == [ModelWriterLock.fileName, "CURRENT", name].sorted())
        #expect(try String(contentsOfFile: model + "/CURRENT", encoding: .utf8) == name + "\n")
        #expect(loaded.directory.path == model + "/" + name)
        #expect(loaded.manifest.formatVersion == 2)
        let files = try #require(loaded.manifest.files)
        #expect(files.keys.sorted() == Self.files.sorted())
        for file in Self.files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: loaded.directory.path + "/" + file)))
            #expect(files[file] == ModelFileChecksum(bytes: bytes.count, crc32: CRC32.naive(bytes)), "\(file)")
        }
    }

    @Test(arguments: ModelPublishingTests.files)
    func `a changed byte in any model file is refused at load, naming the file`(file: String) throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let path = try ModelDirectory.resolve(model).path + "/" + file
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x10  // one bit, same size
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: CheckpointError.self) { try LoadedModel(path: model) }
        #expect(error.description.hasPrefix(path + ": malformed: checksum mismatch: manifest.json records CRC-32 "), "\(error)")
        #expect(throws: (any Error).self) { try EvaluationJob(modelPath: model, dataPath: dir + "/good.csv").run() }
    }

    @Test func `a file swapped for another model's is refused, and a manifest without checksums too`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        var config = TrainingFixture.config
        config.model.seed = 99
        let otherDir = dir + "/other"
        try FileManager.default.createDirectory(atPath: otherDir, withIntermediateDirectories: true)
        let other = try TrainingFixture.trainModel(in: otherDir, config: config)
        let target = try ModelDirectory.resolve(model), source = try ModelDirectory.resolve(other)
        let original = try Data(contentsOf: URL(fileURLWithPath: target.parametersPath))
        try FileManager.default.removeItem(atPath: target.parametersPath)
        try FileManager.default.copyItem(atPath: source.parametersPath, toPath: target.parametersPath)
        let error = try #require(throws: CheckpointError.self) { try LoadedModel(path: model) }
        #expect(error.description.hasPrefix(target.parametersPath + ": malformed: checksum mismatch"), "\(error)")

        try original.write(to: URL(fileURLWithPath: target.parametersPath))
        _ = try LoadedModel(path: model)
        var manifest = try target.readJSON(ModelManifest.self, from: target.manifestPath)
        manifest.files = nil
        try target.writeJSON(manifest, to: target.manifestPath)
        #expect(throws: CheckpointError.malformed(path: target.manifestPath, reason: "format version 2 without file checksums")) {
            try LoadedModel(path: model)
        }
    }

    /// Rewrites a published model as an earlier build wrote it: the files directly in the root,
    /// a format-1 manifest without checksums, no `CURRENT`.
    static func makeFlat(_ model: String) throws -> ModelManifest {
        let version = try ModelDirectory.resolve(model)
        for file in files + ["manifest.json"] {
            try FileManager.default.moveItem(atPath: version.path + "/" + file, toPath: model + "/" + file)
        }
        try FileManager.default.removeItem(atPath: version.path)
        try FileManager.default.removeItem(atPath: model + "/CURRENT")
        let flat = ModelDirectory(path: model)
        var manifest = try flat.readJSON(ModelManifest.self, from: flat.manifestPath)
        manifest.formatVersion = 1
        manifest.files = nil
        try flat.writeJSON(manifest, to: flat.manifestPath)
        return manifest
    }

    @Test func `a format-1 flat directory still loads, and training over it publishes and removes the flat files`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let trained = try LoadedModel(path: model)
        let manifest = try Self.makeFlat(model)
        let flat = try LoadedModel(path: model)
        #expect(flat.directory.path == model && flat.manifest == manifest)
        #expect(flat.parameters == trained.parameters)

        try TrainingJob(configPath: dir + "/config.yaml", trainingPath: dir + "/good.csv", validationPath: nil, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true))
        let again = try LoadedModel(path: model)
        #expect(again.manifest.formatVersion == 2 && again.manifest.modelVersion != manifest.modelVersion)
        #expect(try FileManager.default.contentsOfDirectory(atPath: model).sorted()
                == [ModelWriterLock.fileName, "CURRENT", "v-" + again.manifest.modelVersion].sorted())
    }

    @Test func `leftovers of killed runs are never loaded and are removed by the next run`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let current = try LoadedModel(path: model)
        // A complete but unpublished version (killed between its rename and CURRENT), a staging
        // directory, a pointer's temporary file, a flat writer's temporary file.
        let orphan = model + "/v-00000000000000aa"
        try FileManager.default.copyItem(atPath: current.directory.path, toPath: orphan)
        try FileManager.default.copyItem(atPath: current.directory.path, toPath: model + "/.staging-v-00000000000000bb-1")
        FileManager.default.createFile(atPath: model + "/.CURRENT.tmp-1-1", contents: Data("v-00000000000000aa\n".utf8))
        FileManager.default.createFile(atPath: model + "/.model.safetensors.tmp-1-2", contents: Data([1, 2, 3]))
        #expect(try LoadedModel(path: model).directory.path == current.directory.path)

        try TrainingJob(configPath: dir + "/config.yaml", trainingPath: dir + "/good.csv", validationPath: nil, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true))
        let next = try LoadedModel(path: model)
        // The version replaced is kept (a server may have just resolved it); nothing else is left.
        #expect(try FileManager.default.contentsOfDirectory(atPath: model).sorted()
                == [ModelWriterLock.fileName, "CURRENT", "v-" + current.manifest.modelVersion,
                    "v-" + next.manifest.modelVersion].sorted())
    }

    @Test func `--resume with no checkpoint starts from scratch with a message`() throws {
        try #require(MetaRecBinary.path != nil, "\(MetaRecBinary.notFoundMessage)")
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try TrainingFixture.writeConfig(in: dir)
        try TrainingFixture.goodLog().write(toFile: dir + "/good.csv", atomically: true, encoding: .utf8)
        let model = dir + "/model"
        let run = try MetaRecBinary.run(["train", "--config", config, "--data", dir + "/good.csv", "--out", model, "--resume"],
                                        log: dir + "/resume.log")
        #expect(run.reason == .exit && run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("no checkpoint in \(model)/checkpoint to resume from: starting from scratch"), "\(run.stderr)")
        let loaded = try LoadedModel(path: model)
        #expect(loaded.manifest.epochsCompleted == TrainingFixture.config.training.epochs)
        #expect(loaded.manifest.rowsTrained == 48)
    }

    @Test(arguments: ["gen-1\n", "garbage\n"])
    func `a run without --resume removes an earlier run's checkpoints, even a damaged one`(pointer: String) throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-publish")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try TrainingFixture.writeConfig(in: dir)
        try TrainingFixture.goodLog().write(toFile: dir + "/good.csv", atomically: true, encoding: .utf8)
        let model = dir + "/model"
        try FileManager.default.createDirectory(atPath: model + "/checkpoint/gen-1", withIntermediateDirectories: true)
        try pointer.write(toFile: model + "/checkpoint/LATEST", atomically: true, encoding: .utf8)
        try TrainingJob(configPath: config, trainingPath: dir + "/good.csv", validationPath: nil, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true))
        #expect(!FileManager.default.fileExists(atPath: model + "/checkpoint"))
        _ = try LoadedModel(path: model)
        // --resume with a damaged pointer is an error naming it, not a silent fresh start.
        try FileManager.default.createDirectory(atPath: model + "/checkpoint", withIntermediateDirectories: true)
        try "garbage\n".write(toFile: model + "/checkpoint/LATEST", atomically: true, encoding: .utf8)
        var job = TrainingJob(configPath: config, trainingPath: dir + "/good.csv", validationPath: nil, outputDirectory: model)
        job.resume = true
        let error = try #require(throws: CheckpointError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
        #expect(error.description.hasPrefix(model + "/checkpoint/LATEST: malformed"), "\(error)")
    }
}
