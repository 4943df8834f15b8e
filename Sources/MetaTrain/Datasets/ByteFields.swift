#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splitting and decoding of raw lines handed out by ``LineReader`` (bytes, not `String`s,
/// so that million-row files convert quickly even in debug builds).
enum ByteFields {
    /// Splits `line` at every occurrence of `separator` (one or more bytes) and appends the
    /// field ranges to `ranges` (cleared first). With `trimSpaces`, leading and trailing
    /// spaces are cut from each field. No quoting is recognised.
    static func split(
        _ line: UnsafeBufferPointer<UInt8>, separator: [UInt8], trimSpaces: Bool = false,
        into ranges: inout [Range<Int>]
    ) {
        precondition(!separator.isEmpty, "ByteFields.split: empty separator")
        ranges.removeAll(keepingCapacity: true)
        let first = separator[0]
        let n = line.count
        guard let base = line.baseAddress else {
            ranges.append(0..<0)
            return
        }
        var start = 0
        var i = 0
        // memchr finds candidates quickly (debug builds included); the rest of a multi-byte
        // separator is checked by hand.
        while i < n, let hit = memchr(base + i, Int32(first), n - i) {
            i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if i + separator.count <= n && matches(line, at: i, separator) {
                ranges.append(trim(line, start..<i, trimSpaces))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        ranges.append(trim(line, start..<n, trimSpaces))
    }

    /// Parses one RFC 4180 record that fits on one line (quoted fields may hold the delimiter
    /// and doubled quotes, not line breaks).
    /// - Returns: the fields, or `nil` with `reason` set when the quoting is broken.
    static func quotedFields(_ line: UnsafeBufferPointer<UInt8>, delimiter: UInt8 = 44, reason: inout String) -> [String]? {
        var fields: [String] = []
        var field: [UInt8] = []
        var i = 0
        let n = line.count
        while true {
            field.removeAll(keepingCapacity: true)
            if i < n && line[i] == 34 {
                i += 1
                while true {
                    guard i < n else {
                        reason = "unterminated quoted field \(fields.count + 1)"
                        return nil
                    }
                    if line[i] == 34 {
                        if i + 1 < n && line[i + 1] == 34 {
                            field.append(34)
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    field.append(line[i])
                    i += 1
                }
                if i < n && line[i] != delimiter {
                    reason = "text after the closing quote of field \(fields.count + 1)"
                    return nil
                }
            } else {
                while i < n && line[i] != delimiter {
                    field.append(line[i])
                    i += 1
                }
            }
            fields.append(text(field))
            if i >= n { return fields }
            i += 1  // the delimiter
        }
    }

    /// The field as text: UTF-8 when valid, otherwise ISO-8859-1 (Latin-1, as in the ml-100k
    /// and ml-1m item files), which maps every byte to the code point of the same value.
    static func text(_ bytes: some Collection<UInt8>) -> String {
        if let utf8 = String(validating: bytes, as: UTF8.self) { return utf8 }
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
        return String(scalars)
    }

    /// The bytes of `range` in `line` as text (see ``text(_:)``).
    static func text(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        text(UnsafeBufferPointer(rebasing: line[range]))
    }

    /// A decimal integer (optional leading `-`), or `nil`.
    static func integer(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        var i = range.lowerBound
        let negative = i < range.upperBound && line[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < range.upperBound, range.count <= 18 else { return nil }  // 18 digits cannot overflow Int
        var value = 0
        while i < range.upperBound {
            let digit = Int(line[i]) - 48
            guard (0...9).contains(digit) else { return nil }
            value = value * 10 + digit
            i += 1
        }
        return negative ? -value : value
    }

    /// A finite decimal number, or `nil`.
    static func number(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Double? {
        if let whole = integer(line, range) { return Double(whole) }
        guard range.count <= 64, let value = Double(text(line, range)), value.isFinite else { return nil }
        return value
    }

    /// Whether the field equals `literal`.
    static func equals(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let bytes = literal.utf8Start
        for (k, i) in range.enumerated() where line[i] != bytes[k] { return false }
        return true
    }

    private static func matches(_ line: UnsafeBufferPointer<UInt8>, at i: Int, _ separator: [UInt8]) -> Bool {
        for k in 1..<separator.count where line[i + k] != separator[k] { return false }
        return true
    }

    private static func trim(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ enabled: Bool) -> Range<Int> {
        guard enabled else { return range }
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper && line[lower] == 32 { lower += 1 }
        while upper > lower && line[upper - 1] == 32 { upper -= 1 }
        return lower..<upper
    }
}
