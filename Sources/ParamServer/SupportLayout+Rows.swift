/// Feature rows in a block, at the store's precision: written narrowed, read widened.
///
/// ```
/// float32:   row = f: W × Float32                                              4W bytes
/// bfloat16:  row = f[0 ..< W−X]: (W − X) × bf16 | f[W−X ..< W]: X × 32-bit patterns   2(W − X) + 4X bytes
/// ```
/// The `X` trailing columns (``SupportStoreConfig/bitPatternColumns``) are bit patterns, so they are
/// copied as bytes, never rounded. Rows are `featureRowBytes` apart, so a bf16 row's 32-bit tail
/// may be only 2-aligned: it is moved with `memcpy`.
extension SupportLayout {
    /// Writes one row of `W` floats into a block slot at `target` (`featureRowBytes` bytes).
    ///
    /// - Complexity: O(W), no allocation.
    @inline(__always)
    func storeRow(_ source: UnsafePointer<Float>, to target: UnsafeMutableRawPointer) {
        switch precision {
        case .float32:
            target.copyMemory(from: source, byteCount: rowWidth * 4)
        case .bfloat16:
            let n = rowWidth - bitPatternColumns
            for c in 0..<n { target.storeBytes(of: BFloat16.narrow(source[c]), toByteOffset: 2 * c, as: UInt16.self) }
            if bitPatternColumns > 0 { (target + 2 * n).copyMemory(from: source + n, byteCount: 4 * bitPatternColumns) }
        }
    }

    /// Reads `rows` consecutive block rows at `source` as `(rows, W)` floats into `out`.
    ///
    /// - Complexity: O(rows · W), no allocation; one `memcpy` at float32.
    @inline(__always)
    func loadRows(_ source: UnsafeRawPointer, count rows: Int, into out: UnsafeMutablePointer<Float>) {
        switch precision {
        case .float32:
            UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: rows * rowWidth * 4)
        case .bfloat16 where bitPatternColumns == 0:
            // Rows are back to back: one widening loop over all of them (vectorised).
            let count = rows * rowWidth
            source.withMemoryRebound(to: UInt16.self, capacity: count) { BFloat16.widen($0, count: count, into: out) }
        case .bfloat16:
            let n = rowWidth - bitPatternColumns, x = bitPatternColumns
            for r in 0..<rows {
                let row = source + r * featureRowBytes, o = out + r * rowWidth
                for c in 0..<n { o[c] = BFloat16.widen(row.loadUnaligned(fromByteOffset: 2 * c, as: UInt16.self)) }
                if x > 0 { UnsafeMutableRawPointer(o + n).copyMemory(from: row + 2 * n, byteCount: 4 * x) }
            }
        }
    }
}

/// Feature rows in a support snapshot record (README "Snapshot format"): the block's row bytes,
/// little-endian, at the precision named in the header.
extension SupportLayout {
    /// Bytes of one row's `W` values in a file written at `precision`.
    func fileRowBytes(_ precision: SupportPrecision) -> Int {
        precision.bytesPerValue * (rowWidth - bitPatternColumns) + 4 * bitPatternColumns
    }

    /// Appends the block row at `row` (``featureRowBytes`` bytes, this store's precision) to `out`.
    func appendRow(_ row: UnsafeRawPointer, to out: inout ByteEncoder) {
        #if _endian(little)
        out.bytes.append(contentsOf: UnsafeRawBufferPointer(start: row, count: featureRowBytes))
        #else
        let n = precision == .float32 ? rowWidth : rowWidth - bitPatternColumns
        let numeric = precision.bytesPerValue
        for c in 0..<n {
            if numeric == 4 { out.append(row.loadUnaligned(fromByteOffset: 4 * c, as: UInt32.self)) }
            else { out.append(row.loadUnaligned(fromByteOffset: 2 * c, as: UInt16.self)) }
        }
        for c in n..<rowWidth where numeric == 2 {
            out.append(row.loadUnaligned(fromByteOffset: 2 * n + 4 * (c - n), as: UInt32.self))
        }
        #endif
    }

    /// Reads one row written at `precision` from `decoder` as `W` floats into `out` (widened when
    /// the file is bfloat16; bit-pattern columns as they are).
    ///
    /// - Throws: ``ParamServerError/corruptSnapshot(path:offset:reason:)`` when the frame ends first.
    func readRow(_ decoder: inout ByteDecoder, precision: SupportPrecision, into out: UnsafeMutablePointer<Float>) throws(ParamServerError) {
        switch precision {
        case .float32:
            try decoder.readFloats(into: out, count: rowWidth)
        case .bfloat16:
            let n = rowWidth - bitPatternColumns
            try decoder.need(fileRowBytes(.bfloat16))
            for c in 0..<n { out[c] = BFloat16.widen(try decoder.read(UInt16.self)) }
            for c in n..<rowWidth { out[c] = Float(bitPattern: try decoder.read(UInt32.self)) }
        }
    }
}
