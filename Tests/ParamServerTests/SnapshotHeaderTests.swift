#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

/// Crafted snapshots whose checksums are *right* but whose header fields or record counts are
/// absurd: each is a clear error naming the file, never an overflow trap or a giant allocation.
@Suite struct SnapshotHeaderTests {
    /// A well-checksummed snapshot: header with `fields`, one frame of `payload` claiming
    /// `records` records, and an end frame counting `endRecords` (default `records`).
    static func craft(kind: SnapshotFormat.Kind, fields: [UInt64], records: UInt32, payload: [UInt8],
                      frameLength: UInt32? = nil, endRecords: UInt64? = nil) -> [UInt8] {
        var header = ByteEncoder()
        header.append(SnapshotFormat.magic)
        header.append(SnapshotFormat.version)
        header.append(kind.rawValue)
        for f in fields { header.append(f) }
        header.append(header.bytes.withUnsafeBytes { SnapshotChecksum.of($0) })
        var frame = ByteEncoder()
        if !payload.isEmpty {  // an empty frame would read as the end frame
            frame.append(frameLength ?? UInt32(payload.count))
            frame.append(records)
            frame.bytes += payload
            frame.append(frame.bytes.withUnsafeBytes { SnapshotChecksum.of($0) })
        }
        var end = ByteEncoder()
        end.append(UInt32(0))
        end.append(UInt32(0))
        end.append(endRecords ?? UInt64(records))
        end.append(end.bytes.withUnsafeBytes { SnapshotChecksum.of($0) })
        return header.bytes + frame.bytes + end.bytes
    }

    static func write(_ bytes: [UInt8], name: String) -> String {
        var template = Array("/tmp/snapshot-header-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let path = dir + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return path
    }

    static func table() throws -> EmbeddingStore {
        try EmbeddingStore(config: .init(dimension: 2, shardCount: 4, optimizer: .sgd(learningRate: 0.1)))
    }

    /// One embedding record: key, touch time, `floats`.
    static func embeddingRecord(key: UInt64, _ floats: [Float]) -> [UInt8] {
        var e = ByteEncoder()
        e.append(key)
        e.append(Int64.min)
        for x in floats { e.append(x.bitPattern) }
        return e.bytes
    }

    @Test(arguments: [
        [UInt64.max, 0, 1, 1_000_000_000, 0],          // dimension 2^64 − 1
        [2, UInt64(1) << 62, 1, 1_000_000_000, 0],      // optimiser state of 2^62 floats a row
        [UInt64(1) << 40, UInt64(1) << 40, 3, 0, 0],
    ])
    func `an embedding header declaring a huge shape is refused by name`(fields: [UInt64]) throws {
        let path = Self.write(Self.craft(kind: .embedding, fields: fields, records: 1,
                                         payload: Self.embeddingRecord(key: 1, [0.5, 0.5])), name: "emb.snapshot")
        let table = try Self.table()
        #expect {
            try table.restore(from: path)
        } throws: { error in
            guard case .snapshotMismatch(let p, _) = error as? ParamServerError else { return false }
            return p == path && ("\(error)".contains("dimension") || "\(error)".contains("optimiser state"))
        }
        #expect(table.rowCount == 0)
    }

    @Test func `a frame claiming billions of records in a few bytes is refused`() throws {
        let path = Self.write(Self.craft(kind: .embedding, fields: [2, 0, 1, 1_000_000_000, 0], records: .max,
                                         payload: Self.embeddingRecord(key: 1, [0.5, 0.5])), name: "emb.snapshot")
        #expect(throws: ParamServerError.self) { try Self.table().restore(from: path) }
        do { try Self.table().restore(from: path) } catch {
            #expect("\(error)".contains(path))
            #expect("\(error)".contains("needs"))
        }
    }

    @Test func `a frame length beyond the file is truncation, not a read past the end`() throws {
        let path = Self.write(Self.craft(kind: .embedding, fields: [2, 0, 1, 1_000_000_000, 0], records: 1,
                                         payload: Self.embeddingRecord(key: 1, [0.5, 0.5]), frameLength: .max),
                              name: "emb.snapshot")
        #expect {
            try Self.table().restore(from: path)
        } throws: { error in
            guard case .truncatedSnapshot(let p, _, _) = error as? ParamServerError else { return false }
            return p == path
        }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func `a non-finite embedding weight is refused, naming its key`(bad: Float) throws {
        let payload = Self.embeddingRecord(key: 11, [0.5, 0.25]) + Self.embeddingRecord(key: 12, [0.5, bad])
        let path = Self.write(Self.craft(kind: .embedding, fields: [2, 0, 1, 1_000_000_000, 0], records: 2, payload: payload),
                              name: "emb.snapshot")
        let table = try Self.table()
        #expect {
            try table.restore(from: path)
        } throws: { error in
            "\(error)".contains("key 12: weight 1 is \(bad), not finite") && "\(error)".contains(path)
        }
        #expect(table.rowCount == 0)
    }

    @Test(arguments: [
        [UInt64.max, 1, 4, 0, 0],
        [2, UInt64(1) << 62, 4, 0, 0],
        [2, 1, UInt64(1) << 63, 0, 0],
    ])
    func `a support header declaring a huge shape is refused`(fields: [UInt64]) throws {
        let path = Self.write(Self.craft(kind: .support, fields: fields, records: 0, payload: []), name: "support.snapshot")
        let store = try SupportStore(config: .init(rowWidth: 2, labelWidth: 1, capacity: 4))
        #expect {
            try store.restore(from: path)
        } throws: { error in
            guard case .snapshotMismatch(let p, _) = error as? ParamServerError else { return false }
            return p == path
        }
    }

    @Test func `a support task claiming 2^32 − 1 rows is refused`() throws {
        var record = ByteEncoder()
        record.append(UInt64(5))
        record.append(Int64(0))
        record.append(UInt32.max)
        record.append(UInt32(0))
        let path = Self.write(Self.craft(kind: .support, fields: [2, 1, 4, 0, 0], records: 1, payload: record.bytes),
                              name: "support.snapshot")
        let store = try SupportStore(config: .init(rowWidth: 2, labelWidth: 1, capacity: 4))
        #expect {
            try store.restore(from: path)
        } throws: { error in
            "\(error)".contains("task 5 has 4294967295 rows") && "\(error)".contains(path)
        }
    }
}
