#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG; reflected, initial value and final
/// xor `0xFFFFFFFF`), the checksum the model manifest records for each model file
/// (`docs/DESIGN.md` §Formats), so a file can be checked from Python with `zlib.crc32` alone.
///
/// ```
/// crc ← 0xFFFFFFFF;  for each byte b: crc ← T₀[(crc ⊕ b) & 0xFF] ⊕ (crc >> 8);  result ¬crc
/// ```
///
/// Written in Swift rather than through zlib: zlib's C surface is confined to `MetaTrain`'s gzip
/// reader (`STYLE.md`: one file imports a C library), and the loaders live below `MetaTrain`.
/// Slicing-by-8 (eight 1 KiB tables, one 8-byte word per step) as in Intel's and zlib's
/// portable code; ``naive(_:)`` is the byte-at-a-time reference the tests compare it with.
///
/// - Complexity: O(n); ≈ 1 GB/s and more in a release build.
package struct CRC32: Sendable {
    /// `tables[k * 256 + i]`: the CRC of byte `i` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    /// An empty checksum (of zero bytes: `0`).
    package init() {}

    /// The checksum of the bytes so far.
    package var value: UInt32 { ~state }

    /// Appends `bytes`.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress else { return }
        var n = bytes.count
        var crc = state
        Self.tables.withUnsafeBufferPointer { t in
            while n >= 8 {
                let word = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: word) ^ crc
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
                n -= 8
            }
            while n > 0 {
                crc = t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                p += 1
                n -= 1
            }
        }
        state = crc
    }

    /// The CRC-32 of `bytes`.
    package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }

    /// The byte-at-a-time reference (bit by bit, no table): the oracle of the tests.
    package static func naive(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }

    /// The CRC-32 and the size of the file at `path`, read in 1 MiB chunks (memory stays bounded
    /// whatever the file's size).
    /// - Throws: ``CheckpointError/io(path:reason:)`` when the file cannot be opened or read.
    package static func checksum(file path: String) throws -> (crc: UInt32, bytes: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CheckpointError.io(path: path, reason: errno == ENOENT ? "no such file" : "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var crc = CRC32()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.io(path: path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return (crc.value, total)
    }
}
