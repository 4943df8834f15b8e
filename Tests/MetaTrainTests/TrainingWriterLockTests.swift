import Foundation
import ModelDescription
import Testing
@testable import MetaTrain

/// One writer per model root (``ModelWriterLock``) in `train`: a second writer into a root being
/// written is refused before it touches anything.
@Suite struct TrainingWriterLockTests {
    @Test func `train into a root another writer holds fails at once and leaves the published model alone`() throws {
        let directory = TrainingFixture.temporaryDirectory("writer-lock-train")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try TrainingFixture.trainModel(in: directory)
        let before = try ModelDirectory.resolve(model).path
        let staging = model + "/.staging-v-0000000000000001-1"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let held = try ModelWriterLock(root: model)
        defer { held.release() }
        let job = TrainingJob(configPath: directory + "/config.yaml", trainingPath: directory + "/good.csv",
                              validationPath: nil, outputDirectory: model)
        #expect(throws: CheckpointError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
        #expect(try ModelDirectory.resolve(model).path == before, "the current version is unchanged")
        #expect(FileManager.default.fileExists(atPath: staging), "the holder's staging directory is not removed as stale")
    }
}
