import ModelMath

/// Number parsing straight from UTF-8 bytes (no `String` per field in the CSV hot path).
///
/// Grammar (after trimming ASCII spaces and tabs): `[+-]? digits [. digits*] ([eE] [+-]? digits)?`
/// or `[+-]? . digits …`. No hex, no `inf`/`nan`, no thousands separators.
/// Values with ≤ 19 significant digits and a decimal exponent in ±22 are exact with one
/// multiplication or division (Clinger 1990's fast path, correctly rounded because both operands
/// are exact doubles); anything else falls back to the standard library's correctly rounded parser.
package enum ByteNumber {
    /// `bytes` without leading and trailing ASCII spaces and tabs.
    @inlinable
    package static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var lo = 0, hi = bytes.count
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo += 1 }
        while hi > lo, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 { hi -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[lo..<hi])
    }

    @usableFromInline static let powersOfTen: [Double] = (0...22).map { p in
        var x = 1.0
        for _ in 0..<p { x *= 10 }
        return x
    }

    /// The decimal number in `bytes` (already trimmed), or `nil` when it does not match the
    /// grammar. Overflow gives ±infinity; callers reject non-finite values.
    package static func double(_ bytes: UnsafeRawBufferPointer) -> Double? {
        let n = bytes.count
        var i = 0
        guard n > 0 else { return nil }
        var negative = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            i = 1
        }
        var mantissa: UInt64 = 0
        var significant = 0
        var exponent = 0
        var sawDigit = false
        var exact = true
        while i < n, bytes[i] &- 0x30 < 10 {
            let d = UInt64(bytes[i] &- 0x30)
            sawDigit = true
            if significant < 19 {
                mantissa = mantissa &* 10 &+ d
                if mantissa > 0 { significant += 1 }
            } else {
                exponent += 1
                if d != 0 { exact = false }
            }
            i += 1
        }
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, bytes[i] &- 0x30 < 10 {
                let d = UInt64(bytes[i] &- 0x30)
                sawDigit = true
                if significant < 19 {
                    mantissa = mantissa &* 10 &+ d
                    if mantissa > 0 { significant += 1 }
                    exponent -= 1
                } else if d != 0 {
                    exact = false
                }
                i += 1
            }
        }
        guard sawDigit else { return nil }
        if i < n, bytes[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < n, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
                expNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var sawExpDigit = false
            while i < n, bytes[i] &- 0x30 < 10 {
                sawExpDigit = true
                if e < 100_000 { e = e * 10 + Int(bytes[i] &- 0x30) }
                i += 1
            }
            guard sawExpDigit else { return nil }
            exponent += expNegative ? -e : e
        }
        guard i == n else { return nil }
        if exact, mantissa <= 1 << 53, exponent >= -22, exponent <= 22 {
            var value = Double(mantissa)
            value = exponent >= 0 ? value * powersOfTen[exponent] : value / powersOfTen[-exponent]
            return negative ? -value : value
        }
        return Double(String(decoding: bytes, as: UTF8.self))
    }

    /// A plain decimal integer (`[+-]? digits`), or `nil` (also on overflow).
    package static func int64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let n = bytes.count
        var i = 0
        var negative = false
        if n > 0, bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            i = 1
        }
        guard i < n else { return nil }
        var value: Int64 = 0
        while i < n {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(negative ? -Int64(d) : Int64(d))
            guard !o1, !o2 else { return nil }
            value = s
            i += 1
        }
        return value
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as text for error messages (at most 40 characters, invalid UTF-8 repaired).
    package var quotedForMessage: String {
        let text = String(decoding: self, as: UTF8.self)
        return "\"" + (text.count > 40 ? String(text.prefix(40)) + "…" : text) + "\""
    }
}
