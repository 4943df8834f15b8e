/// Why a dataset could not be read, converted or written.
///
/// Raw dataset files are outside input: every problem with them is thrown as one of these
/// (never a trap), and every case names the file, plus the 1-based line when one is at fault.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file the layout needs does not exist.
    case missingFile(path: String)
    /// A line of `file` could not be parsed.
    case malformedLine(file: String, line: Int, reason: String)
    /// The file exists but could not be opened, read or decompressed.
    case unreadable(file: String, reason: String)
    /// A MovieLens directory holds none of the known layouts.
    case unrecognizedLayout(directory: String, reason: String)
    /// A generator option is out of range (`name` is the CLI flag without dashes).
    case invalidOption(name: String, reason: String)
    /// An output file could not be created, written, synced or renamed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            "\(path): file not found"
        case .malformedLine(let file, let line, let reason):
            "\(file):\(line): \(reason)"
        case .unreadable(let file, let reason):
            "\(file): cannot read: \(reason)"
        case .unrecognizedLayout(let directory, let reason):
            "\(directory): not a MovieLens directory: \(reason)"
        case .invalidOption(let name, let reason):
            "--\(name): \(reason)"
        case .writeFailed(let file, let reason):
            "\(file): cannot write: \(reason)"
        }
    }
}
