#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Snapshot container (README "Snapshot format"): a header (64 bytes in version 1, 72 in
/// version 2), checksummed frames of records, an end frame with the record total. Little-endian
/// throughout.
///
/// Version 2 adds a sixth `UInt64` header field (a support store's row encoding,
/// ``SupportPrecision``); it is written only by a bfloat16 support store, so every other snapshot
/// stays version 1, readable by builds that predate version 2. Both versions are read.
enum SnapshotFormat {
    static let magic: UInt64 = 0x5041_4E53_5350_524D   // "MRPSSNAP" read little-endian
    /// Version 1: five header fields.
    static let version: UInt32 = 1
    /// The newest version this build reads and writes.
    static let latestVersion: UInt32 = 2
    /// Bytes of a version-1 header.
    static let headerBytes = 64
    static let frameTarget = 1 << 20

    /// Header fields of `version` (5 in version 1, 6 in version 2).
    static func fieldCount(version: UInt32) -> Int { version >= 2 ? 6 : 5 }

    /// Bytes of a header of `version`: magic, version, kind, the fields, checksum.
    static func headerBytes(version: UInt32) -> Int { 16 + 8 * fieldCount(version: version) + 8 }

    enum Kind: UInt32 {
        case embedding = 1, support = 2

        var name: String { self == .embedding ? "an embedding-table" : "a support-store" }
    }
}

/// Writes a snapshot to `path` atomically through an ``AtomicFileWriter``: on any failure, or
/// when the writer is dropped without ``commit()``, the temporary file is removed and an existing
/// snapshot at `path` is untouched.
final class SnapshotWriter {
    private let file: AtomicFileWriter
    private var frame = ByteEncoder()
    private var frameRecords: UInt32 = 0
    private var pending: [[UInt8]] = []
    private var total: UInt64 = 0

    /// - Parameter fields: 5 (a version-1 file) or 6 (version 2).
    init(path: String, kind: SnapshotFormat.Kind, fields: [UInt64]) throws(ParamServerError) {
        precondition(fields.count == 5 || fields.count == 6, "snapshot headers carry 5 (version 1) or 6 (version 2) fields, got \(fields.count)")
        file = try AtomicFileWriter(path: path)
        var header = ByteEncoder()
        header.append(SnapshotFormat.magic)
        header.append(fields.count == 5 ? SnapshotFormat.version : SnapshotFormat.latestVersion)
        header.append(kind.rawValue)
        for f in fields { header.append(f) }
        let sum = header.bytes.withUnsafeBytes { SnapshotChecksum.of($0) }
        header.append(sum)
        try file.write(header.bytes)
    }

    /// Appends one record's bytes (`encode` writes into the current frame).
    func record(_ encode: (inout ByteEncoder) -> Void) {
        encode(&frame)
        frameRecords += 1
        total += 1
        if frame.bytes.count >= SnapshotFormat.frameTarget { sealFrame() }
    }

    private func sealFrame() {
        guard frameRecords > 0 else { return }
        var out = ByteEncoder()
        out.bytes.reserveCapacity(frame.bytes.count + 16)
        out.append(UInt32(frame.bytes.count))
        out.append(frameRecords)
        out.bytes.append(contentsOf: frame.bytes)
        let sum = out.bytes.withUnsafeBytes { SnapshotChecksum.of($0) }
        out.append(sum)
        pending.append(out.bytes)
        frame.bytes.removeAll(keepingCapacity: true)
        frameRecords = 0
    }

    /// Writes sealed frames to disk; call outside shard locks.
    func flush() throws(ParamServerError) {
        for bytes in pending { try file.write(bytes) }
        pending.removeAll()
    }

    /// Seals, writes the end frame, and commits the file (fsync, rename, fsync of the directory).
    func commit() throws(ParamServerError) {
        sealFrame()
        try flush()
        var end = ByteEncoder()
        end.append(UInt32(0))
        end.append(UInt32(0))
        end.append(total)
        let sum = end.bytes.withUnsafeBytes { SnapshotChecksum.of($0) }
        end.append(sum)
        try file.write(end.bytes)
        try file.commit()
    }
}

/// The bytes of a file read into memory, freed with their owner: created before anything about
/// the file is checked, so a refused file frees them too (a throwing initialiser never runs
/// `deinit`).
final class SnapshotBytes {
    let raw: UnsafeRawBufferPointer
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
    deinit { raw.deallocate() }
}

/// A snapshot read fully into memory and validated (header, every frame checksum, the end
/// frame, no trailing bytes) before anything is applied, so a bad file changes nothing.
final class SnapshotContents {
    let path: String
    /// Owns ``raw``.
    private let bytes: SnapshotBytes
    /// The whole file.
    var raw: UnsafeRawBufferPointer { bytes.raw }
    let kind: SnapshotFormat.Kind
    /// The format version (1 or 2).
    let version: UInt32
    /// Six header fields; a version-1 file's sixth is 0.
    let fields: [UInt64]
    /// (file offset of the payload, payload length, records) per frame.
    let frames: [(offset: Int, length: Int, records: Int)]
    let total: Int

    init(path: String) throws(ParamServerError) {
        self.path = path
        let bytes = SnapshotBytes(try Self.readFile(path))
        self.bytes = bytes
        let raw = bytes.raw
        func truncated(_ offset: Int, _ needed: Int) -> ParamServerError {
            .truncatedSnapshot(path: path, offset: offset, needed: needed)
        }
        func corrupt(_ offset: Int, _ reason: String) -> ParamServerError {
            .corruptSnapshot(path: path, offset: offset, reason: reason)
        }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func sum(_ range: Range<Int>) -> UInt64 { SnapshotChecksum.of(UnsafeRawBufferPointer(rebasing: raw[range])) }
        let n = raw.count
        if n < 8 { throw truncated(n, 8 - n) }
        if u64(0) != SnapshotFormat.magic { throw corrupt(0, "not a MetaRec parameter-server snapshot (bad magic)") }
        if n < 12 { throw truncated(n, 12 - n) }
        let version = u32(8)
        // The header's length depends on the version, so the checksum can only be checked after
        // it: an unknown version is reported as such (a newer file, or a damaged version field).
        guard version >= 1 && version <= SnapshotFormat.latestVersion else {
            throw .unsupportedSnapshotVersion(path: path, found: version, supported: SnapshotFormat.latestVersion)
        }
        let headerBytes = SnapshotFormat.headerBytes(version: version), fieldCount = SnapshotFormat.fieldCount(version: version)
        if n < headerBytes { throw truncated(n, headerBytes - n) }
        if sum(0..<(headerBytes - 8)) != u64(headerBytes - 8) { throw corrupt(headerBytes - 8, "header checksum mismatch") }
        guard let kind = SnapshotFormat.Kind(rawValue: u32(12)) else { throw corrupt(12, "unknown snapshot kind \(u32(12))") }
        self.kind = kind
        self.version = version
        fields = (0..<6).map { $0 < fieldCount ? u64(16 + 8 * $0) : 0 }
        var at = headerBytes
        var frames: [(offset: Int, length: Int, records: Int)] = []
        var records = 0
        while true {
            if n - at < 8 { throw truncated(n, at + 8 - n) }
            let length = Int(u32(at)), count = Int(u32(at + 4))
            if length == 0 {
                if count != 0 { throw corrupt(at + 4, "end frame carries \(count) records") }
                if n - at < 24 { throw truncated(n, at + 24 - n) }
                if sum(at..<(at + 16)) != u64(at + 16) { throw corrupt(at, "end frame checksum mismatch") }
                if u64(at + 8) != UInt64(records) {
                    throw corrupt(at + 8, "end frame counts \(u64(at + 8)) records, frames hold \(records)")
                }
                if at + 24 != n { throw corrupt(at + 24, "\(n - at - 24) unexpected bytes after the end frame") }
                break
            }
            if n - at < 16 + length { throw truncated(n, at + 16 + length - n) }
            if sum(at..<(at + 8 + length)) != u64(at + 8 + length) {
                throw corrupt(at, "frame checksum mismatch (frame of \(length) bytes, \(count) records)")
            }
            frames.append((at + 8, length, count))
            records += count
            at += 16 + length
        }
        self.frames = frames
        total = records
    }

    /// Calls `body` with a decoder over each frame's payload and its record count; checks the
    /// frame is consumed exactly.
    func forEachFrame(_ body: (inout ByteDecoder, Int) throws(ParamServerError) -> Void) throws(ParamServerError) {
        for f in frames {
            var decoder = ByteDecoder(bytes: UnsafeRawBufferPointer(rebasing: raw[f.offset..<(f.offset + f.length)]),
                                      base: f.offset, path: path)
            try body(&decoder, f.records)
            if decoder.remaining != 0 {
                throw .corruptSnapshot(path: path, offset: f.offset + decoder.position,
                                       reason: "\(decoder.remaining) bytes left over after the frame's records")
            }
        }
    }

    private static func readFile(_ path: String) throws(ParamServerError) -> UnsafeRawBufferPointer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .io(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw .io(path: path, operation: "stat", code: errno) }
        let size = Int(info.st_size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
        var offset = 0
        while offset < size {
            let n = read(fd, buffer.baseAddress! + offset, size - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                buffer.deallocate()
                throw .io(path: path, operation: "read", code: code)
            }
            if n == 0 { break }
            offset += n
        }
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<offset])
    }
}
