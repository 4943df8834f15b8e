#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

/// Snapshot format version 2 (bfloat16 support rows) against damage and against headers this
/// format never writes: truncation and flipped bits anywhere, an unknown version, a version-2
/// header naming float32 rows, an embedding table marked version 2.
@Suite struct SnapshotVersionTests {
    typealias P = SupportStorePrecisionTests

    /// A bf16 store's snapshot of 12 rows, as bytes, and its store.
    static func bf16Snapshot() throws -> (bytes: [UInt8], store: SupportStore) {
        let store = try P.store(.bfloat16)
        P.append(store, P.rows(12, seed: 8))
        let path = P.temporaryPath("v2.snapshot")
        try store.snapshot(to: path, journalPosition: 3)
        return (P.bytes(path), store)
    }

    static func write(_ bytes: [UInt8], name: String) -> String {
        let path = P.temporaryPath(name)
        let f = fopen(path, "wb")!
        _ = fwrite(bytes, 1, bytes.count, f)
        fclose(f)
        return path
    }

    /// `bytes` with the header's version set to `version` and its checksum recomputed over the
    /// first `headerBytes − 8` bytes (a well-formed header of that length).
    static func reheader(_ bytes: [UInt8], version: UInt32, headerBytes: Int, field6: UInt64? = nil) -> [UInt8] {
        var out = bytes
        withUnsafeBytes(of: version.littleEndian) { for i in 0..<4 { out[8 + i] = $0[i] } }
        if let field6 { withUnsafeBytes(of: field6.littleEndian) { for i in 0..<8 { out[56 + i] = $0[i] } } }
        let sum = out[0..<(headerBytes - 8)].withUnsafeBytes { SnapshotChecksum.of($0) }
        withUnsafeBytes(of: sum.littleEndian) { for i in 0..<8 { out[headerBytes - 8 + i] = $0[i] } }
        return out
    }

    @Test func `a version-2 snapshot cut anywhere is a truncation error and restores nothing`() throws {
        let (bytes, _) = try Self.bf16Snapshot()
        #expect(Self.reheader(bytes, version: 2, headerBytes: 72) == bytes, "the helper rebuilds the writer's own header")
        for length in [0, 11, 40, 64, 71, 72, 80, bytes.count / 2, bytes.count - 24, bytes.count - 1] {
            let path = Self.write(Array(bytes.prefix(length)), name: "cut.snapshot")
            for precision in SupportPrecision.allCases {
                let target = try P.store(precision)
                #expect(throws: ParamServerError.self, "cut at \(length)") { try target.restore(from: path) }
                do { try target.restore(from: path) } catch {
                    guard case .truncatedSnapshot = error else { Issue.record("cut at \(length): \(error)"); continue }
                }
                #expect(target.count == 0)
            }
        }
    }

    @Test func `a flipped bit anywhere in a version-2 snapshot is detected`() throws {
        let (bytes, _) = try Self.bf16Snapshot()
        var state: UInt64 = 11
        for _ in 0..<80 {
            state = mixKey(state)
            let bit = Int(state % UInt64(bytes.count * 8))
            var flipped = bytes
            flipped[bit / 8] ^= UInt8(1 << (bit % 8))
            let path = Self.write(flipped, name: "flipped.snapshot")
            let target = try P.store(.bfloat16)
            #expect(throws: ParamServerError.self, "bit \(bit)") { try target.restore(from: path) }
            #expect(target.count == 0)
        }
    }

    @Test func `an unknown version is refused by number, as a newer file or a damaged header`() throws {
        let (bytes, _) = try Self.bf16Snapshot()
        for version: UInt32 in [0, 3, 0xFFFF_FFFF] {
            let path = Self.write(Self.reheader(bytes, version: version, headerBytes: 72), name: "v\(version).snapshot")
            #expect {
                try P.store(.bfloat16).restore(from: path)
            } throws: { error in
                guard case .unsupportedSnapshotVersion(let p, let found, 2) = error as? ParamServerError else { return false }
                return p == path && found == version && "\(error)".contains("a newer build, or a damaged header")
            }
        }
    }

    @Test func `a version-2 support header naming float32 rows is refused`() throws {
        let (bytes, store) = try Self.bf16Snapshot()
        for code: UInt64 in [0, 1] {
            let field6 = code | UInt64(P.x) << 8
            let path = Self.write(Self.reheader(bytes, version: 2, headerBytes: 72, field6: field6), name: "f32-v2.snapshot")
            let target = try P.store(.float32)
            #expect { try target.restore(from: path) } throws: { "\($0)".contains("version 2 is written for bfloat16 rows (2) only") }
            #expect(target.count == 0)
        }
        // The untouched file restores (the refusal is the header's, not the rows').
        let target = try P.store(.float32)
        try target.restore(from: Self.write(bytes, name: "ok.snapshot"))
        #expect(target.count == store.count)
    }

    @Test func `an embedding snapshot marked version 2 is refused`() throws {
        let table = try EmbeddingStore(config: .init(dimension: 2, shardCount: 4, optimizer: .sgd(learningRate: 0.1)))
        _ = pullRows(table, [1, 2, 3], create: true)
        let path = P.temporaryPath("emb.snapshot")
        try table.snapshot(to: path)
        let v1 = P.bytes(path)
        // A version-2 header is 8 bytes longer: insert a sixth field (0) after the fifth.
        var v2 = Array(v1[0..<56]) + [UInt8](repeating: 0, count: 8) + Array(v1[56..<64]) + Array(v1[64...])
        v2 = Self.reheader(v2, version: 2, headerBytes: 72)
        let target = try EmbeddingStore(config: table.config)
        #expect { try target.restore(from: Self.write(v2, name: "emb-v2.snapshot")) } throws: {
            "\($0)".contains("embedding tables are written as version 1")
        }
        #expect(target.rowCount == 0)
        try target.restore(from: Self.write(v1, name: "emb-v1.snapshot"))
        #expect(target.rowCount == 3)
    }
}
