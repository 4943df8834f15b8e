/// Small JSON and number writers on byte buffers (no `String` per value).
enum JSONText {
    /// Appends `s` as a JSON string literal (quotes, escapes for `"`, `\` and control characters).
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `value`: written right to left into a 20-byte stack
    /// buffer (division by the constant 10 compiles to a multiply), then appended at once.
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        if v < 10 {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            while v != 0 {
                let q = v / 10
                i -= 1
                digits[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v &- q &* 10)
                v = q
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i..<20]))
        }
    }

    /// Appends `value` as decimal text that ``FeatureEncoder`` parses back on its exact fast
    /// path, without allocating: integers below 2^53 exactly, everything else rounded to 15
    /// significant digits (relative error ≤ 5e-16, far below the Float32 the model computes in)
    /// with trailing zeros dropped, as `mantissa e exponent`.
    static func appendDouble(_ value: Double, to out: inout [UInt8]) {
        precondition(value.isFinite, "appendDouble: \(value) is not finite")
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
            appendInteger(Int64(value), to: &out)
            return
        }
        // Below 1e-200 the value is 0 to any Float32 model input (and 10^(e−14) would underflow).
        if abs(value) < 1e-200 { out.append(UInt8(ascii: "0")); return }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let a = abs(value)
        var e = decimalExponentEstimate(a) - 14
        var mantissa = (a / pow10(e)).rounded()
        if mantissa >= 1e15 { e += 1; mantissa = (a / pow10(e)).rounded() }
        var m = Int64(mantissa)
        while m != 0, m % 10 == 0 { m /= 10; e += 1 }
        appendInteger(m, to: &out)
        out.append(UInt8(ascii: "e"))
        appendInteger(Int64(e), to: &out)
    }

    /// Appends a finite `value` with 9 significant digits (enough for every `Float` to read
    /// back exactly), trailing zeros dropped: plain decimals for `1e-5 ≤ |value| < 1e9`
    /// (`0.812345671`, `12.5`, `3`), otherwise `d.ddde±x`. No `String` is made.
    static func appendFloat(_ value: Float, to out: inout [UInt8]) {
        precondition(value.isFinite, "appendFloat: \(value) is not finite")
        guard value != 0 else { out.append(UInt8(ascii: "0")); return }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let a = Double(value.magnitude)
        // m: the 9 significant digits, a ≈ m · 10^(e − 8) with 10^8 ≤ m < 10^9.
        var e = decimalExponentEstimate(a)
        var m = Int64((a / pow10(e - 8)).rounded())
        if m >= 1_000_000_000 { e += 1; m = Int64((a / pow10(e - 8)).rounded()) }
        if m < 100_000_000 { e -= 1; m = Int64((a / pow10(e - 8)).rounded()) }
        var n = 9
        while m % 10 == 0 { m /= 10; n -= 1 }
        let start = out.count
        if e >= -5 && e < 9 {
            if e < 0 {
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "."))
                for _ in 0..<(-e - 1) { out.append(UInt8(ascii: "0")) }
                appendInteger(m, to: &out)
            } else if n <= e + 1 {
                appendInteger(m, to: &out)
                for _ in 0..<(e + 1 - n) { out.append(UInt8(ascii: "0")) }
            } else {
                appendInteger(m, to: &out)
                out.insert(UInt8(ascii: "."), at: start + e + 1)
            }
        } else {
            appendInteger(m, to: &out)
            if n > 1 { out.insert(UInt8(ascii: "."), at: start + 1) }
            out.append(UInt8(ascii: "e"))
            appendInteger(Int64(e), to: &out)
        }
    }

    /// `⌊log10 a⌋` or one less, for a finite `a > 0`, from the binary exponent: with
    /// `a ∈ [2^b, 2^(b+1))`, `log10 a ∈ [b·log10 2, (b+1)·log10 2)`, an interval narrower than 1.
    /// The callers' mantissa checks add the missing 1. (A `log10` per score was a visible part
    /// of the server's CPU under load; README.)
    private static func decimalExponentEstimate(_ a: Double) -> Int {
        Int((Double(a.exponent) * 0.301_029_995_663_981_2).rounded(.down))
    }

    /// `10^n` for `0 ≤ n ≤ 22`: every one exact in a Double.
    private static let exactPowers: [Double] = (0...22).map { n in (0..<n).reduce(1.0) { r, _ in r * 10 } }

    private static func pow10(_ n: Int) -> Double {
        if n >= 0 && n <= 22 { return exactPowers[n] }
        if n < 0 && n >= -22 { return 1 / exactPowers[-n] }
        var r = 1.0
        let base = n < 0 ? 0.1 : 10.0
        // Exact powers where possible: multiply by 10 (exact up to 1e22), divide for negatives.
        if n >= 0 {
            for _ in 0..<n { r *= base }
            return r
        }
        for _ in 0..<(-n) { r *= 10 }
        return 1 / r
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
