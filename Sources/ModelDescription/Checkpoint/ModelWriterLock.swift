#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The one-writer-at-a-time rule of a model root (``ModelPublisher``), enforced: an exclusive
/// `flock(2)` on `ROOT/.writer.lock`, taken by `train` and `federated` before they touch the root
/// (its staging directories, checkpoints and versions) and held until they finish. A second
/// writer is refused at once, naming the holder's pid, instead of deleting the first one's
/// staging directory and checkpoints as stale. The kernel drops the lock when its holder exits,
/// however it exits, so a killed writer never leaves the root locked; the file itself stays
/// (an unlocked file is no lock). Used by one thread: the job that holds it.
public final class ModelWriterLock {
    /// The lock file's name in a model root.
    public static let fileName = ".writer.lock"
    /// The lock file.
    public let path: String
    private var descriptor: Int32

    /// Creates `root` when missing and takes its writer lock.
    /// - Throws: ``CheckpointError/io(path:reason:)`` when another process (or another lock
    ///   object in this one) holds it, or the file cannot be opened or locked.
    public init(root: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: root, reason: "cannot create directory: \(error.localizedDescription)")
        }
        let path = root + "/" + Self.fileName
        // Read-only when another user's file is not writable: flock works on any descriptor.
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 && errno == EACCES { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            throw CheckpointError.io(path: path, reason: "cannot open the writer lock: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let reason = code == EWOULDBLOCK
                ? "another writer\(Self.holder(fd)) is writing this model directory; wait for it to finish or choose another --out"
                : "cannot lock \(Self.fileName): \(String(cString: strerror(code)))"
            close(fd)
            throw CheckpointError.io(path: root, reason: reason)
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        (self.path, self.descriptor) = (path, fd)
    }

    /// Releases the lock (also done when the object is freed).
    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    /// " (pid N)" from the lock file, or "" when it holds no pid.
    private static func holder(_ descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0, let pid = Int32(String(decoding: bytes[..<count], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) else { return "" }
        return " (pid \(pid))"
    }
}
