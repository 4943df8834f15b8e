import Foundation
import ParamServer

/// Writes model files so that a crash leaves either the old file or the new one, never a torn
/// mix: the parameter server's ``ParamServer/AtomicFileWriter`` (temporary file in the same
/// directory, fsync, rename, fsync of the directory), with errors as ``CheckpointError``.
public enum AtomicFile {
    /// Atomically replaces `path` with `data`.
    /// - Throws: ``CheckpointError/io(path:reason:)`` naming the file and the failing step.
    public static func write(_ data: Data, to path: String) throws {
        do {
            try data.withUnsafeBytes { try AtomicFileWriter.write($0, to: path) }
        } catch let error as ParamServerError {
            throw CheckpointError(error)
        }
    }

    /// Atomically replaces `path` with the UTF-8 bytes of `text`.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }
}

extension CheckpointError {
    /// The checkpoint form of a failed atomic write: the file and `<operation> failed: <reason>`.
    init(_ error: ParamServerError) {
        guard case let .io(path, operation, code) = error else {
            self = .io(path: "", reason: error.description)
            return
        }
        let verb = operation == "open" ? "cannot create" : "\(operation) failed"
        self = .io(path: path, reason: "\(verb): \(String(cString: strerror(code)))")
    }
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
