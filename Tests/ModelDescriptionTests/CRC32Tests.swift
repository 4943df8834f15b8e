import Foundation
@testable import ModelDescription
import Testing

/// The manifest's CRC-32: zlib's polynomial and conventions, slicing-by-8 against the bitwise reference.
@Suite struct CRC32Tests {
    static func crc(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { CRC32.checksum($0) } }

    @Test func `known check values (zlib, gzip, PNG)`() {
        #expect(Self.crc([]) == 0)
        #expect(Self.crc(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Self.crc(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(Self.crc([0]) == 0xD202_EF8D)
    }

    @Test(arguments: [1, 2, 3])
    func `slicing-by-8 equals the bitwise reference at every length and alignment`(seed: UInt64) {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        let bytes: [UInt8] = (0..<300).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 291 - start] {
                let slice = Array(bytes[start..<(start + length)])
                #expect(Self.crc(slice) == CRC32.naive(slice), "start \(start), length \(length)")
            }
        }
    }

    @Test func `streamed in pieces and read from a file, the checksum is the same`() throws {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 3) }
        var streamed = CRC32()
        for piece in stride(from: 0, to: bytes.count, by: 333) {
            Array(bytes[piece..<min(piece + 333, bytes.count)]).withUnsafeBytes { streamed.update($0) }
        }
        #expect(streamed.value == CRC32.naive(bytes))
        let path = NSTemporaryDirectory() + "/metarec-crc32-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (crc, count) = try CRC32.checksum(file: path)
        #expect(crc == CRC32.naive(bytes) && count == 5000)
        #expect(throws: CheckpointError.io(path: path + ".missing", reason: "no such file")) {
            try CRC32.checksum(file: path + ".missing")
        }
    }

    @Test func `the manifest's form is eight lowercase hex digits and the size`() {
        #expect(ModelFileChecksum(bytes: 9, crc32: 0xCBF4_3926).crc32 == "cbf43926")
        #expect(ModelFileChecksum(bytes: 1, crc32: 0x1F).crc32 == "0000001f")
        #expect(ModelFileChecksum(bytes: 1, crc32: 0x1F).description == "CRC-32 0000001f (1 bytes)")
    }
}
