#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelDescription
import ParamServer

/// A failure of the event log's files, with the path and the system error or the reason.
public struct EventLogError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }

    static func system(_ path: String, _ operation: String, _ code: Int32 = errno) -> EventLogError {
        EventLogError(path: path, reason: "\(operation) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// One open segment file, appended to by ``EventLog``; the descriptor closes when the last
/// reference goes (the fsync thread may hold one while the log has moved to the next segment).
final class EventLogSegmentFile: @unchecked Sendable {
    let id: UInt64
    let path: String
    let fd: Int32
    /// Bytes of whole records and the header: where the next record goes (guarded by the log's lock).
    var length: Int
    /// Records appended since it was created (guarded by the log's lock).
    var records = 0

    /// Creates segment `id` in `directory` atomically (the header through ``AtomicFileWriter``:
    /// temporary file, fsync, rename, fsync of the directory), so a segment file always has a
    /// whole header, and opens it for appending.
    init(creating id: UInt64, in directory: String, rowWidth w: Int, labelWidth l: Int) throws(EventLogError) {
        let path = directory + "/" + EventLogFormat.fileName(segment: id)
        let header = EventLogFormat.header(segment: id, rowWidth: w, labelWidth: l)
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.write(header)
            try writer.commit()
        } catch {
            throw EventLogError(path: path, reason: "cannot create the segment: \(error)")
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw .system(path, "open") }
        self.id = id
        self.path = path
        self.fd = fd
        length = header.count
    }

    /// An already open descriptor (tests: `/dev/full`, where every write fails).
    init(id: UInt64, path: String, fd: Int32, length: Int) {
        self.id = id
        self.path = path
        self.fd = fd
        self.length = length
    }

    deinit { close(fd) }

    /// Writes `bytes` whole at the end, or restores the previous length and reports the error
    /// (when even that fails, the caller must stop using the file).
    func append(_ bytes: [UInt8]) -> (error: EventLogError, restored: Bool)? {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let error = EventLogError.system(path, "write", n == 0 ? EIO : errno)
                return (error, done == 0 || ftruncate(fd, off_t(length)) == 0)
            }
            done += n
        }
        length += bytes.count
        records += 1
        return nil
    }

    /// fsync(2); `nil` or the error.
    func sync() -> EventLogError? {
        fsync(fd) == 0 ? nil : .system(path, "fsync")
    }
}

/// What a scan of one segment found past its last valid record.
enum EventLogDamage: Equatable {
    /// The last record is incomplete or fails its checksum and nothing follows it: a write cut by
    /// a crash. Cut at `offset`.
    case tornTail(offset: Int, reason: String)
    /// A record that fails its checksum (or is malformed) with `bytesAfter` more bytes behind it:
    /// damage in the middle; the rest of the segment cannot be framed and is cut at `offset`.
    case corrupt(offset: Int, reason: String, bytesAfter: Int)

    var offset: Int {
        switch self {
        case .tornTail(let offset, _), .corrupt(let offset, _, _): offset
        }
    }
}

/// Reads segment files back (`EventLogFormat`).
enum EventLogScanner {
    /// Calls `body` with each valid record of the segment at `path` in file order, and returns
    /// the byte length of the valid prefix and the damage after it, if any. Reads one record at a
    /// time, so memory stays at the largest record.
    ///
    /// - Throws: ``EventLogError`` when the file cannot be read, its header is not an event-log
    ///   header of segment `id`, or its rows are not `W`/`L` wide (another model's log).
    static func scan(path: String, segment id: UInt64, rowWidth w: Int, labelWidth l: Int,
                     _ body: (EventLogRecord, Int) -> Void) throws(EventLogError) -> (validLength: Int, damage: EventLogDamage?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(path, "open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(path, "stat") }
        let size = Int(info.st_size)
        let header = try read(fd, path, at: 0, count: EventLogFormat.headerBytes)
        try checkHeader(header, path: path, segment: id, rowWidth: w, labelWidth: l)
        var at = EventLogFormat.headerBytes
        while at < size {
            let left = size - at
            guard left >= EventLogFormat.recordHeaderBytes else {
                return (at, .tornTail(offset: at, reason: "a partial record header (\(left) bytes)"))
            }
            let head = try read(fd, path, at: at, count: EventLogFormat.recordHeaderBytes)
            let length = Int(word(head, 0)), crc = word(head, 4)
            guard length <= EventLogFormat.maxPayloadBytes, length <= left - EventLogFormat.recordHeaderBytes else {
                return (at, .tornTail(offset: at, reason: "the record declares \(length) bytes, \(left - 8) are left"))
            }
            let payload = try read(fd, path, at: at + 8, count: length)
            var check = CRC32()
            head.withUnsafeBytes { check.update(UnsafeRawBufferPointer(rebasing: $0[0..<4])) }
            payload.withUnsafeBytes { check.update($0) }
            let end = at + 8 + length
            let record = check.value == crc
                ? payload.withUnsafeBytes { EventLogRecord(payload: $0, rowWidth: w, labelWidth: l) } : nil
            guard let record else {
                let reason = check.value == crc ? "a malformed record (\(length) bytes)" : "checksum mismatch (record of \(length) bytes)"
                return (at, end == size ? .tornTail(offset: at, reason: reason) : .corrupt(offset: at, reason: reason, bytesAfter: size - end))
            }
            body(record, at)
            at = end
        }
        return (at, nil)
    }

    static func checkHeader(_ h: [UInt8], path: String, segment id: UInt64, rowWidth w: Int, labelWidth l: Int) throws(EventLogError) {
        guard h.count == EventLogFormat.headerBytes else {
            throw EventLogError(path: path, reason: "not an event-log segment: \(h.count) bytes, shorter than its header")
        }
        guard long(h, 0) == EventLogFormat.magic, word(h, 32) == h.withUnsafeBytes({ CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<32])) }) else {
            throw EventLogError(path: path, reason: "not an event-log segment (bad magic or header checksum)")
        }
        guard word(h, 8) == EventLogFormat.version else {
            throw EventLogError(path: path, reason: "event-log format \(word(h, 8)); this server reads \(EventLogFormat.version)")
        }
        guard long(h, 24) == id else { throw EventLogError(path: path, reason: "the header names segment \(long(h, 24)), the file name \(id)") }
        guard word(h, 12) == UInt32(w), word(h, 16) == UInt32(l) else {
            throw EventLogError(path: path, reason: "rows are W = \(word(h, 12)), L = \(word(h, 16)); the served model has W = \(w), L = \(l)")
        }
    }

    static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
        b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    }

    static func long(_ b: [UInt8], _ at: Int) -> UInt64 {
        b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    static func read(_ fd: Int32, _ path: String, at offset: Int, count: Int) throws(EventLogError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .system(path, "read") }
            if n == 0 { break }
            done += n
        }
        return done == count ? out : Array(out[0..<done])
    }
}

/// Truncates the file at `path` to `length` bytes and fsyncs it.
func truncateFile(_ path: String, to length: Int) throws(EventLogError) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(path, "open") }
    defer { close(fd) }
    guard ftruncate(fd, off_t(length)) == 0 else { throw .system(path, "ftruncate") }
    guard fsync(fd) == 0 else { throw .system(path, "fsync") }
}
