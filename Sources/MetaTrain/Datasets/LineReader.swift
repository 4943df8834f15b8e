#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reads a raw text file line by line as bytes: LF-terminated lines, a trailing CR dropped
/// (so CRLF files read like LF ones), the last line with or without a final newline.
///
/// Plain files are read with `read(2)` in 1 MiB chunks; `.gz` files are decompressed by the
/// `gzip -dc` command-line tool through a pipe (streamed, never held whole in memory).
/// Not thread-safe; each call owns its file.
enum LineReader {
    /// Calls `body(line, lineNumber)` for every line of `path` (1-based line numbers).
    /// The buffer passed to `body` is only valid during the call.
    /// - Parameters:
    ///   - gzip: decompress with `gzip -dc` (default: when `path` ends in `.gz`).
    /// - Throws: ``DatasetError/missingFile(path:)``, ``DatasetError/unreadable(file:reason:)``,
    ///   or whatever `body` throws (reading stops there).
    static func forEachLine(
        in path: String, gzip: Bool? = nil,
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void
    ) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError.missingFile(path: path) }
        if gzip ?? path.hasSuffix(".gz") {
            try forEachGzipLine(in: path, body)
            return
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DatasetError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        try forEachLine(descriptor: fd, name: path, body)
    }

    /// Reads lines from an open descriptor until end of file.
    static func forEachLine(
        descriptor fd: Int32, name: String,
        _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void
    ) throws {
        let chunk = 1 << 20
        var pending = [UInt8](repeating: 0, count: 2 * chunk)
        var filled = 0
        var lineNumber = 0
        while true {
            if pending.count - filled < chunk { pending.append(contentsOf: repeatElement(0, count: chunk)) }
            let n = pending.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DatasetError.unreadable(file: name, reason: String(cString: strerror(errno)))
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

    private static func forEachGzipLine(
        in path: String, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", "--", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw DatasetError.unreadable(file: path, reason: "cannot run gzip: \(error)")
        }
        var finished = false
        defer {
            if !finished {
                process.terminate()
                process.waitUntilExit()
            }
        }
        try forEachLine(descriptor: output.fileHandleForReading.fileDescriptor, name: path, body)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        finished = true
        guard process.terminationStatus == 0 else {
            let reason = message.split(separator: "\n").first.map(String.init) ?? "gzip exited with status \(process.terminationStatus)"
            throw DatasetError.unreadable(file: path, reason: reason)
        }
    }
}
