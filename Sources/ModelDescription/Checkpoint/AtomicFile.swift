import ModelMath
import Foundation

/// Writes files so that a crash leaves either the old file or the new one, never a torn mix:
/// write to a temporary file in the same directory, `fsync` it, `rename` over the target,
/// then `fsync` the directory so the rename itself is durable.
public enum AtomicFile {
    /// Atomically replaces `path` with `data`.
    /// - Throws: ``CheckpointError/io(path:reason:)`` naming the file and the failing step.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(path: temporary, reason: "cannot create: \(errnoText())") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    let reason = errnoText()
                    close(fd)
                    throw CheckpointError.io(path: temporary, reason: "write failed: \(reason)")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else {
            let reason = errnoText()
            close(fd)
            throw CheckpointError.io(path: temporary, reason: "fsync failed: \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            throw CheckpointError.io(path: path, reason: "rename failed: \(errnoText())")
        }
        ok = true
        let dirfd = open(directory, O_RDONLY)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    /// Atomically replaces `path` with the UTF-8 bytes of `text`.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Errors reading or writing model files.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file system refused an operation.
    case io(path: String, reason: String)
    /// A model file is malformed (truncated, bad header, wrong dtype, …).
    case malformed(path: String, reason: String)
    /// A file is well formed but does not fit the configured model.
    case mismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let reason): "\(path): \(reason)"
        case .malformed(let path, let reason): "\(path): malformed: \(reason)"
        case .mismatch(let path, let reason): "\(path): does not match the model: \(reason)"
        }
    }
}
