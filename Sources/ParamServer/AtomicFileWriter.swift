#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A file written under a temporary name in its destination directory and renamed into place
/// by ``commit()``, so that readers, and a machine that crashes at any moment, see either the
/// previous file or the complete new one, never a prefix or a torn mix:
///
/// ```
/// open("<dir>/.<name>.tmp-<pid>-<n>", O_CREAT | O_EXCL) → write … → fsync → close → rename → fsync(<dir>)
/// ```
///
/// The one atomic writer of the package: snapshots (here), model files (`ModelDescription`'s
/// `AtomicFile`) and dataset files (`MetaTrain`'s `CSVWriter`) all go through it. Bytes may be
/// streamed in any number of ``write(_:)-(UnsafeRawBufferPointer)`` calls, so a file need not fit
/// in memory. A writer dropped or ``discard()``ed without a successful ``commit()``, or whose
/// commit fails, removes its temporary file; the file at ``path`` is then untouched.
///
/// Errors are ``ParamServerError/io(path:operation:code:)``, naming the temporary file for the
/// steps before the rename. Not thread-safe: one owner writes.
package final class AtomicFileWriter {
    /// Where the file appears on ``commit()``.
    package let path: String
    /// Where the bytes go until then: a hidden name next to ``path``, unique per process and call.
    package let temporaryPath: String
    private var descriptor: Int32

    /// Separates the temporary files of one process; the pid separates processes.
    private static let sequence = Atomic<Int>(0)

    /// Creates the temporary file next to `path` (the directory must exist).
    /// - Throws: ``ParamServerError/io(path:operation:code:)`` with operation `open`.
    package init(path: String) throws(ParamServerError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let prefix = slash.map { String(path[...$0]) } ?? ""
        let serial = Self.sequence.wrappingAdd(1, ordering: .relaxed).newValue
        temporaryPath = "\(prefix).\(name).tmp-\(getpid())-\(serial)"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw .io(path: temporaryPath, operation: "open", code: errno) }
    }

    deinit { discard() }

    /// Appends all of `bytes`, retrying short writes and interrupts.
    /// - Throws: ``ParamServerError/io(path:operation:code:)`` with operation `write`.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(ParamServerError) {
        precondition(descriptor >= 0, "AtomicFileWriter.write after commit or discard of \(path)")
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: temporaryPath, operation: "write", code: errno)
            }
            offset += n
        }
    }

    /// Appends all of `bytes`.
    package func write(_ bytes: [UInt8]) throws(ParamServerError) {
        let failure = bytes.withUnsafeBytes { writeReportingFailure($0) }
        if let failure { throw failure }
    }

    /// Appends the UTF-8 bytes of `text`.
    package func write(_ text: String) throws(ParamServerError) {
        var text = text
        let failure = text.withUTF8 { writeReportingFailure(UnsafeRawBufferPointer($0)) }
        if let failure { throw failure }
    }

    /// ``write(_:)-(UnsafeRawBufferPointer)`` for closures of the standard library that rethrow
    /// untyped errors: the failure is returned, not thrown.
    private func writeReportingFailure(_ bytes: UnsafeRawBufferPointer) -> ParamServerError? {
        do throws(ParamServerError) {
            try write(bytes)
            return nil
        } catch {
            return error
        }
    }

    /// Makes the file durable and visible: fsyncs and closes it, renames it over ``path`` and
    /// fsyncs the directory, so the rename survives a crash too.
    ///
    /// On a failure before the rename the temporary file is removed and ``path`` keeps its
    /// previous contents. A failing directory fsync is reported although the new file is
    /// already in place: it may then not survive a crash.
    /// - Throws: ``ParamServerError/io(path:operation:code:)`` with operation `fsync`, `close`,
    ///   `rename` or `fsync directory`.
    package func commit() throws(ParamServerError) {
        precondition(descriptor >= 0, "AtomicFileWriter.commit after commit or discard of \(path)")
        if fsync(descriptor) != 0 {
            let code = errno
            discard()
            throw .io(path: temporaryPath, operation: "fsync", code: code)
        }
        let fd = descriptor
        descriptor = -1
        if close(fd) != 0 {
            let code = errno
            unlink(temporaryPath)
            throw .io(path: temporaryPath, operation: "close", code: code)
        }
        if rename(temporaryPath, path) != 0 {
            let code = errno
            unlink(temporaryPath)
            throw .io(path: path, operation: "rename", code: code)
        }
        let directory = Self.directory(of: path)
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            defer { close(dfd) }
            if fsync(dfd) != 0 { throw .io(path: directory, operation: "fsync directory", code: errno) }
        }
    }

    /// Closes and removes the temporary file; ``path`` is untouched. A no-op after ``commit()``.
    package func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }

    /// Atomically replaces `path` with `bytes`.
    package static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws(ParamServerError) {
        let file = try AtomicFileWriter(path: path)
        try file.write(bytes)
        try file.commit()
    }

    /// The directory holding `path` (`.` for a bare name).
    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
