extension CSVTokenizer {
    /// Finds the fields of the record at `start`, filling `spans` and `fieldCount`.
    ///
    /// - Returns: the offset after the record's line break and the line breaks it contains,
    ///   or `nil` when the buffer ends inside the record before the end of the input (refill
    ///   and scan again from `start`: the scan is restartable because it writes nothing but spans).
    @inline(__always)
    func scanRecord() throws(DataError) -> (next: Int, lines: Int)? {
        let buf = buffer
        let end = self.end
        let delimiter = self.delimiter
        var p = start
        var f = 0
        var lines = 0
        while true {
            var q = p
            if trimsLeadingSpaces {
                while q < end, buf[q] == 0x20 { q += 1 }
            }
            if q < end, buf[q] == Self.quote {
                switch try scanQuotedField(at: q, field: f, lines: &lines) {
                case .needsInput: return nil
                case .delimiter(let next): f += 1; p = next; continue
                case .recordEnd(let next): fieldCount = f + 1; return (next, lines)
                }
            }
            // Unquoted field: up to the delimiter or the line break (CRLF or LF).
            var r = q
            while true {
                while r < end {
                    let b = buf[r]
                    if b == delimiter || b == Self.lf || b == Self.cr { break }
                    r += 1
                }
                guard r < end else {
                    if !endOfInput { return nil }
                    setSpan(f, q, end, escaped: false)
                    fieldCount = f + 1
                    return (end, lines)
                }
                let b = buf[r]
                if b == delimiter {
                    setSpan(f, q, r, escaped: false)
                    f += 1
                    p = r + 1
                    break
                }
                if b == Self.lf {
                    setSpan(f, q, r, escaped: false)
                    fieldCount = f + 1
                    return (r + 1, lines + 1)
                }
                // CR: a line break only before LF.
                guard r + 1 < end else {
                    if !endOfInput { return nil }
                    setSpan(f, q, r, escaped: false)
                    fieldCount = f + 1
                    return (end, lines)
                }
                if buf[r + 1] == Self.lf {
                    setSpan(f, q, r, escaped: false)
                    fieldCount = f + 1
                    return (r + 2, lines + 1)
                }
                r += 1
            }
        }
    }

    /// How the scan of one field ended.
    enum FieldEnd {
        /// The buffer ends inside the record before the end of the input: refill and rescan.
        case needsInput
        /// A delimiter follows the field; the next field starts at `next`.
        case delimiter(next: Int)
        /// The field ends the record; the next record starts at `next`.
        case recordEnd(next: Int)
    }

    /// Scans the quoted field number `f` (0-based) whose opening quote is at `q`: sets its span
    /// and says what follows the closing quote. Adds the line breaks inside the quotes to
    /// `lines`, and the record's own line break when the record ends here. Inlined into
    /// ``scanRecord()``, so the enum costs nothing.
    ///
    /// - Throws: ``DataError/unterminatedQuote(file:line:column:)`` when the input ends inside
    ///   the quotes; ``DataError/malformedQuote(file:line:column:)`` when anything but a
    ///   delimiter or a line break follows the closing quote (after positioning the tokenizer to
    ///   drop the rest of the line).
    @inline(__always)
    func scanQuotedField(at q: Int, field f: Int, lines: inout Int) throws(DataError) -> FieldEnd {
        let buf = buffer
        let end = self.end
        // Up to the next quote that is not doubled.
        let quoteLine = nextLine + lines
        var r = q + 1
        var escaped = false
        while true {
            guard r < end else {
                if endOfInput { throw DataError.unterminatedQuote(file: file, line: quoteLine, column: f + 1) }
                return .needsInput
            }
            let b = buf[r]
            if b == Self.quote {
                guard r + 1 < end else {
                    if endOfInput { break }
                    return .needsInput
                }
                if buf[r + 1] == Self.quote {
                    escaped = true
                    r += 2
                    continue
                }
                break
            }
            if b == Self.lf { lines += 1 }
            r += 1
        }
        setSpan(f, q + 1, r, escaped: escaped)
        r += 1  // past the closing quote
        guard r < end else { return endOfInput ? .recordEnd(next: end) : .needsInput }
        let b = buf[r]
        if b == delimiter { return .delimiter(next: r + 1) }
        if b == Self.lf {
            lines += 1
            return .recordEnd(next: r + 1)
        }
        if b == Self.cr {
            guard r + 1 < end else { return endOfInput ? .recordEnd(next: end) : .needsInput }
            if buf[r + 1] == Self.lf {
                lines += 1
                return .recordEnd(next: r + 2)
            }
        }
        // Drop the rest of the line; the caller may skip this row and read on.
        fieldCount = f + 1
        nextLine += lines
        start = r
        resynchronising = true
        throw DataError.malformedQuote(file: file, line: nextLine, column: f + 1)
    }

    /// Rewrites quoted fields with doubled quotes in place (`""` → `"`); the record is complete,
    /// so its bytes will not be scanned again.
    func unescapeQuotedFields() {
        for i in 0..<fieldCount where spans[i].escaped {
            var read = spans[i].start, write = spans[i].start
            let end = spans[i].end
            while read < end {
                let b = buffer[read]
                buffer[write] = b
                write += 1
                read += (b == Self.quote && read + 1 < end && buffer[read + 1] == Self.quote) ? 2 : 1
            }
            spans[i].end = write
            spans[i].escaped = false
        }
    }

    /// Checks the record's bytes: UTF-8 and no NUL. ASCII-only records without NUL (the common
    /// case) cost a few integer operations per 8 bytes:
    ///
    /// ```
    /// high bits:  bits  |= w                                   any byte ≥ 0x80 sets a 0x80 lane
    /// NUL bytes:  zeros |= (w − 0x01…01) & ~w & 0x80…80         nonzero iff some byte of w is 0
    /// ```
    /// (the second is the classic "has a zero byte" test: exact as a yes/no per word).
    ///
    /// - Throws: ``DataError/invalidUTF8(file:line:column:)`` or
    ///   ``DataError/nulByte(file:line:column:)`` at the field and physical line of the first
    ///   bad byte.
    func validateUTF8(from lo: Int, to hi: Int) throws(DataError) {
        let raw = UnsafeRawPointer(buffer)
        var i = lo
        var bits: UInt64 = 0, zeros: UInt64 = 0
        while i + 8 <= hi {
            let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            bits |= w
            zeros |= (w &- 0x0101_0101_0101_0101) & ~w & 0x8080_8080_8080_8080
            i += 8
        }
        while i < hi {
            bits |= UInt64(buffer[i])
            if buffer[i] == 0 { zeros = 1 }
            i += 1
        }
        guard bits & 0x8080_8080_8080_8080 != 0 || zeros != 0 else { return }
        for f in 0..<fieldCount {
            let s = spans[f]
            let field = UnsafeBufferPointer(start: buffer + s.start, count: s.end - s.start)
            let bad = Self.firstInvalidUTF8(buffer + s.start, count: s.end - s.start)
            let nul = field.firstIndex(of: 0)
            guard bad != nil || nul != nil else { continue }
            let at = min(bad ?? .max, nul ?? .max)
            var lineOfByte = line
            for j in lo..<(s.start + at) where buffer[j] == Self.lf { lineOfByte += 1 }
            if at == nul { throw DataError.nulByte(file: file, line: lineOfByte, column: f + 1) }
            throw DataError.invalidUTF8(file: file, line: lineOfByte, column: f + 1)
        }
    }

    /// Offset of the first byte that does not start (or continue) a well-formed UTF-8 sequence:
    /// no overlong forms, no surrogates, nothing above U+10FFFF (Unicode 15, Table 3-7).
    static func firstInvalidUTF8(_ p: UnsafePointer<UInt8>, count n: Int) -> Int? {
        var i = 0
        while i < n {
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            let need: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: return i
            }
            guard i + need < n else { return i }  // truncated sequence
            let second = p[i + 1]
            guard second >= lo, second <= hi else { return i }
            var k = 2
            while k <= need {
                guard p[i + k] & 0xC0 == 0x80 else { return i }
                k += 1
            }
            i += need + 1
        }
        return nil
    }
}
