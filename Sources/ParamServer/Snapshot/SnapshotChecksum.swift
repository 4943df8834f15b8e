/// A 64-bit word-at-a-time checksum for snapshot frames.
///
/// Each step `h ← rotl((h ⊕ w) · p, 29)` is a bijection of `h` for a fixed word `w`, so any
/// change confined to one 8-byte word always changes the result (in particular every single-bit
/// flip); other corruption is missed with probability ≈ 2⁻⁶⁴. ~1 byte/cycle is not needed:
/// this runs at memory speed.
struct SnapshotChecksum {
    private var h: UInt64 = 0x6D65_7461_7265_6321   // "metarec!"
    private var length: UInt64 = 0

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            step(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            for j in 0..<(n - i) { tail |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            step(tail)
        }
        length &+= UInt64(n)
    }

    @inline(__always) private mutating func step(_ w: UInt64) {
        let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
        h = (x << 29) | (x >> 35)
    }

    var value: UInt64 { mixKey(h ^ length) }

    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var c = SnapshotChecksum()
        c.update(bytes)
        return c.value
    }
}

/// Little-endian encoding into a growing byte array.
struct ByteEncoder {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(floats: UnsafePointer<Float>, count: Int) {
        // Float bit patterns are written little-endian like the integers.
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: floats, count: count * 4))
        #else
        for i in 0..<count { append(floats[i].bitPattern) }
        #endif
    }
}

/// Little-endian decoding with bounds checks that report the file offset.
struct ByteDecoder {
    let bytes: UnsafeRawBufferPointer
    /// File offset of `bytes[0]`, for messages.
    let base: Int
    let path: String
    var position = 0

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws(ParamServerError) -> T {
        try need(MemoryLayout<T>.size)
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func readFloats(into out: UnsafeMutablePointer<Float>, count: Int) throws(ParamServerError) {
        try need(count * 4)
        #if _endian(little)
        UnsafeMutableRawPointer(out).copyMemory(from: bytes.baseAddress! + position, byteCount: count * 4)
        position += count * 4
        #else
        for i in 0..<count { out[i] = Float(bitPattern: try read(UInt32.self)) }
        #endif
    }

    func need(_ n: Int) throws(ParamServerError) {
        if n > remaining {
            throw .corruptSnapshot(path: path, offset: base + position,
                                   reason: "a record needs \(n) bytes but its frame has \(remaining) left")
        }
    }
}
