#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every error the parameter server throws: bad configuration and snapshot problems.
///
/// Each case carries enough context (file, byte offset, reason) for a one-line message a user
/// can act on; ``description`` renders it.
public enum ParamServerError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range (configs come from YAML, so this is outside input).
    case invalidConfiguration(field: String, reason: String)
    /// A system call on a snapshot file failed; `code` is `errno`.
    case io(path: String, operation: String, code: Int32)
    /// The snapshot ends before `offset + needed` bytes; it was cut short while being copied.
    case truncatedSnapshot(path: String, offset: Int, needed: Int)
    /// The bytes at `offset` are not what the format says (bad magic, checksum, trailer…).
    case corruptSnapshot(path: String, offset: Int, reason: String)
    /// The snapshot was written by a format version this build cannot read.
    case unsupportedSnapshotVersion(path: String, found: UInt32, supported: UInt32)
    /// The snapshot is well formed but its shapes (or kind) do not match this table.
    case snapshotMismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(field, reason):
            return "invalid parameter-server configuration: \(field): \(reason)"
        case let .io(path, operation, code):
            return "\(operation) failed for \(path): \(String(cString: strerror(code))) (errno \(code))"
        case let .truncatedSnapshot(path, offset, needed):
            return "snapshot \(path) is truncated: needed \(needed) more bytes at offset \(offset)"
        case let .corruptSnapshot(path, offset, reason):
            return "snapshot \(path) is corrupt at offset \(offset): \(reason)"
        case let .unsupportedSnapshotVersion(path, found, supported):
            return "snapshot \(path) has format version \(found); this build reads versions 1 to \(supported) "
                + "(a file from a newer build, or a damaged header)"
        case let .snapshotMismatch(path, reason):
            return "snapshot \(path) does not fit this table: \(reason)"
        }
    }
}
