import Foundation

/// Reads a raw text file line by line as bytes: LF-terminated lines, a trailing CR dropped
/// (so CRLF files read like LF ones), the last line with or without a final newline.
///
/// The bytes come from the log reader's ``ByteSource`` (`Data/ByteSource.swift`): a plain
/// file, or a gzip file (recognised by its magic bytes, whatever its name) inflated by zlib as
/// it streams. Lines are handed out of a 1 MiB window; a file is never held whole in memory.
/// Not thread-safe; each call owns its file.
enum LineReader {
    /// Calls `body(line, lineNumber)` for every line of `path` (1-based line numbers).
    /// The buffer passed to `body` is only valid during the call.
    /// - Throws: ``DatasetError/missingFile(path:)``, ``DatasetError/unreadable(file:reason:)``
    ///   (including a corrupt or truncated gzip stream), or whatever `body` throws (reading
    ///   stops there).
    static func forEachLine(in path: String, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missingFile(path: path) }
        let source: any ByteSource
        do { source = try openByteSource(path: path) } catch { throw DatasetError(error, file: path) }
        try forEachLine(source: source, name: path, body)
    }

    /// Reads lines from `source` until its end.
    static func forEachLine(
        source: any ByteSource, name: String, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void
    ) throws {
        let chunk = 1 << 20
        var pending = [UInt8](repeating: 0, count: 2 * chunk)
        var filled = 0
        var lineNumber = 0
        while true {
            if pending.count - filled < chunk { pending.append(contentsOf: repeatElement(0, count: chunk)) }
            let result: Result<Int, DataError> = pending.withUnsafeMutableBytes { raw in
                Result { () throws(DataError) in
                    try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled..<(filled + chunk)]))
                }
            }
            let n: Int
            switch result {
            case .success(let count): n = count
            case .failure(let error): throw DatasetError(error, file: name)
            }
            let atEnd = n == 0
            filled += n
            // Hand out every complete line; keep the partial last line for the next chunk.
            let consumed: Int = try pending.withUnsafeBufferPointer { all in
                var start = 0
                while start < filled {
                    let rest = UnsafeRawPointer(all.baseAddress! + start)
                    guard let hit = memchr(rest, 10, filled - start) else { break }
                    let end = rest.distance(to: UnsafeRawPointer(hit)) + start
                    lineNumber += 1
                    try body(trimmed(all, start, end), lineNumber)
                    start = end + 1
                }
                if atEnd && start < filled {
                    lineNumber += 1
                    try body(trimmed(all, start, filled), lineNumber)
                    start = filled
                }
                return start
            }
            if consumed > 0 {
                pending.withUnsafeMutableBytes { raw in
                    let base = raw.baseAddress!
                    memmove(base, base + consumed, filled - consumed)
                }
                filled -= consumed
            }
            if atEnd { return }
        }
    }

    private static func trimmed(_ all: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UnsafeBufferPointer<UInt8> {
        var end = end
        if end > start && all[end - 1] == 13 { end -= 1 }
        return UnsafeBufferPointer(rebasing: all[start..<end])
    }
}

extension DatasetError {
    /// A byte-source error of the log reader, as a dataset error about `file`.
    init(_ error: DataError, file: String) {
        switch error {
        case .unreadable(_, let reason): self = .unreadable(file: file, reason: reason)
        case .corruptGzip(_, let reason): self = .unreadable(file: file, reason: "corrupt gzip: \(reason)")
        default: self = .unreadable(file: file, reason: error.description)
        }
    }
}
