import Foundation
import ModelDescription
import Testing

/// ``ModelWriterLock``: one writer per model root; the lock goes with its holder.
@Suite struct ModelWriterLockTests {
    @Test func `a second lock on a root is refused with the holder's pid until the first is released`() throws {
        let directory = NSTemporaryDirectory() + "/writer-lock-\(UInt64.random(in: 0...UInt64.max))"
        let root = directory + "/model"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try ModelWriterLock(root: root)
        #expect(FileManager.default.fileExists(atPath: root + "/" + ModelWriterLock.fileName))
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
}
