#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A file written under a temporary name in its destination directory and renamed into place
/// by ``commit()``: readers see either the old file or the complete new one, never a prefix.
///
/// ```
/// open(".name.tmp.<pid>.<n>", O_CREAT | O_EXCL) → write … → fsync → close → rename → fsync(dir)
/// ```
/// Dropping the value without committing removes the temporary file.
/// Not thread-safe: one writer owns it. (Models' `AtomicFile` writes a whole buffer at once;
/// this one streams, for CSV files larger than memory.)
final class StreamingAtomicFile {
    /// Final path of the file.
    let path: String
    /// Where the bytes go until ``commit()``.
    let temporaryPath: String
    private var descriptor: Int32

    private static let counter = Atomic<Int>(0)

    /// Creates the temporary file next to `path`.
    /// - Throws: ``DatasetError/writeFailed(file:reason:)`` when it cannot be created.
    init(path: String) throws {
        self.path = path
        let directory = StreamingAtomicFile.directory(of: path)
        let name = String(path.split(separator: "/").last ?? Substring(path))
        // The counter only has to differ between files of one process; the pid separates processes.
        let serial = StreamingAtomicFile.counter.wrappingAdd(1, ordering: .relaxed).newValue
        temporaryPath = "\(directory)/.\(name).tmp.\(getpid()).\(serial)"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0o644)
        if descriptor < 0 {
            throw DatasetError.writeFailed(file: path, reason: StreamingAtomicFile.errnoText())
        }
    }

    deinit { discard() }

    /// Writes all of `bytes` (retrying short writes and interrupts).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(descriptor >= 0, "StreamingAtomicFile.write after commit/discard of \(path)")
        var offset = 0
        while offset < bytes.count {
            let n = posixWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError.writeFailed(file: path, reason: StreamingAtomicFile.errnoText())
            }
            offset += n
        }
    }

    /// Writes a whole string as UTF-8.
    func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    /// fsyncs the data, renames the temporary file over `path` and fsyncs the directory.
    func commit() throws {
        precondition(descriptor >= 0, "StreamingAtomicFile.commit twice for \(path)")
        defer { if descriptor >= 0 { discard() } }
        if fsync(descriptor) != 0 {
            throw DatasetError.writeFailed(file: path, reason: "fsync: " + StreamingAtomicFile.errnoText())
        }
        let fd = descriptor
        descriptor = -1
        if close(fd) != 0 {
            unlink(temporaryPath)
            throw DatasetError.writeFailed(file: path, reason: "close: " + StreamingAtomicFile.errnoText())
        }
        if rename(temporaryPath, path) != 0 {
            let reason = StreamingAtomicFile.errnoText()
            unlink(temporaryPath)
            throw DatasetError.writeFailed(file: path, reason: "rename: " + reason)
        }
        // Make the rename itself durable; failure here leaves a complete file, so it is ignored.
        let dir = open(StreamingAtomicFile.directory(of: path), O_RDONLY)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    /// Closes and removes the temporary file (no-op after ``commit()``).
    func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }

    /// Writes `text` to `path` atomically in one call.
    static func write(_ text: String, to path: String) throws {
        let file = try StreamingAtomicFile(path: path)
        try file.write(text)
        try file.commit()
    }

    /// Creates `directory` and its parents when missing.
    static func createDirectory(_ directory: String) throws {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw DatasetError.writeFailed(file: directory, reason: "mkdir \(prefix): " + errnoText())
            }
        }
        var info = stat()
        if stat(directory, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw DatasetError.writeFailed(file: directory, reason: "not a directory")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
