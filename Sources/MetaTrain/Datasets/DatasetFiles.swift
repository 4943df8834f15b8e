#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ParamServer

/// The converters' output files: written through the parameter server's
/// ``ParamServer/AtomicFileWriter`` (temporary file, fsync, rename, fsync of the directory), so a
/// dataset directory never holds a torn file, with errors as ``DatasetError``.
enum DatasetFiles {
    /// Writes `text` to `path` atomically in one call.
    /// - Throws: ``DatasetError/writeFailed(file:reason:)``.
    static func write(_ text: String, to path: String) throws(DatasetError) {
        do throws(ParamServerError) {
            let file = try AtomicFileWriter(path: path)
            try file.write(text)
            try file.commit()
        } catch {
            throw DatasetError(writing: path, error)
        }
    }

    /// Creates `directory` and its parents when missing.
    /// - Throws: ``DatasetError/writeFailed(file:reason:)`` when a component cannot be created
    ///   or `directory` is not a directory.
    static func createDirectory(_ directory: String) throws(DatasetError) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .writeFailed(file: directory, reason: "mkdir \(prefix): " + String(cString: strerror(errno)))
            }
        }
        var info = stat()
        if stat(directory, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw .writeFailed(file: directory, reason: "not a directory")
        }
    }
}

extension DatasetError {
    /// The dataset form of a failed atomic write of `file`: the system's reason, prefixed by the
    /// step for the steps after the writes (`fsync: …`, `rename: …`).
    init(writing file: String, _ error: ParamServerError) {
        guard case let .io(_, operation, code) = error else {
            self = .writeFailed(file: file, reason: error.description)
            return
        }
        let reason = String(cString: strerror(code))
        self = .writeFailed(file: file, reason: ["open", "write"].contains(operation) ? reason : "\(operation): \(reason)")
    }
}
