import Foundation
import ModelDescription
import Testing
@testable import MetaTrain

/// One writer per model root (``ModelWriterLock``): a second `train` into a root being written is
/// refused before it touches anything, naming the holder; the lock goes with its holder.
@Suite struct ModelWriterLockTests {
    @Test func `a second lock on a root is refused with the holder's pid until the first is released`() throws {
        let root = TrainingFixture.temporaryDirectory("writer-lock") + "/model"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try ModelWriterLock(root: root)
        #expect(FileManager.default.fileExists(atPath: root + "/.writer.lock"))
        do {
            _ = try ModelWriterLock(root: root)
            Issue.record("a second writer lock was granted")
        } catch let error as CheckpointError {
            #expect(error.description.contains("another writer (pid \(getpid()))"), "\(error)")
            #expect(error.description.hasPrefix(root), "\(error)")
        }
        first.release()
        let again = try ModelWriterLock(root: root)   // released: granted, the stale file is no lock
        again.release()
    }

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
