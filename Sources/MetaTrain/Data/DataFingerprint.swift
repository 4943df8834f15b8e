import ModelDescription
import ModelMath

/// Identity of a training file's content for the model manifest: a 64-bit hash of the
/// (decompressed) bytes, their count, and the data rows read.
///
/// Two files with the same CSV text have the same fingerprint whether or not they are
/// gzipped. The hash is fast, not cryptographic: it detects "trained on different data",
/// not tampering.
public struct DataFingerprint: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Hash of the content bytes (see ``ContentHasher``).
    public var contentHash: UInt64
    /// Content bytes (after decompression).
    public var bytes: Int
    /// Data rows read (bad rows included, the header excluded).
    public var rows: Int

    public init(contentHash: UInt64, bytes: Int, rows: Int) {
        self.contentHash = contentHash
        self.bytes = bytes
        self.rows = rows
    }

    /// `hash/bytes/rows`, the hash as 16 hex digits.
    public var description: String {
        let hex = String(contentHash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + "/\(bytes)/\(rows)"
    }
}

/// Streaming 64-bit hash of a byte stream, independent of how the stream is chunked.
///
/// ```
/// for each little-endian 8-byte word w:  h = rotl(h ^ (w · P1), 31) · P2
/// final:  fmix64(h ^ tail · P1 ^ length)           tail = the last < 8 bytes, zero-padded
/// P1 = 0x9E3779B97F4A7C15, P2 = 0xC2B2AE3D27D4EB4F (xxHash64's primes); fmix64 = MurmurHash3's
/// ```
struct ContentHasher {
    private var state: UInt64 = 0x2545_F491_4F6C_DD1D
    private var tail: UInt64 = 0
    private var tailCount = 0
    private(set) var length = 0

    private static let p1: UInt64 = 0x9E37_79B9_7F4A_7C15
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F

    @inline(__always)
    private mutating func round(_ w: UInt64) {
        let x = state ^ (w &* Self.p1)
        state = ((x << 31) | (x >> 33)) &* Self.p2
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        length += n
        var i = 0
        while tailCount > 0, tailCount < 8, i < n {
            tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(tailCount))
            tailCount += 1
            i += 1
        }
        if tailCount == 8 {
            round(tail)
            tail = 0
            tailCount = 0
        }
        while i + 8 <= n {
            round(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        while i < n {
            tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(tailCount))
            tailCount += 1
            i += 1
        }
    }

    func finalize() -> UInt64 {
        FeatureKey.finalize(state ^ (tail &* Self.p1) ^ UInt64(length))
    }
}
