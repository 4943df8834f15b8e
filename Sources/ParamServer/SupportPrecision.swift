/// How a support store keeps the meta-layer inputs of its rows (`docs/DESIGN.md` §Parameter
/// server: "rows may be stored in a narrower float (bf16) where that loses no measured quality").
///
/// Only the meta-layer inputs `f_1 … f_K` are narrowed; labels, event and write times, versions,
/// keys and a row's trailing bit-pattern columns (``SupportStoreConfig/bitPatternColumns``, e.g.
/// the support encoder's item key) are kept as they are. Pulls widen back to `Float`, so the
/// fine-tuning math is unchanged; only the values are rounded.
///
/// | case | bytes a feature | relative error of a stored value |
/// |---|---|---|
/// | `float32` | 4 | 0 |
/// | `bfloat16` | 2 | ≤ 2⁻⁸ (round to nearest even on 8 significant bits) |
///
/// Raw values are the config and command-line spellings (`serving.support_precision`,
/// `--support-precision`).
public enum SupportPrecision: String, Sendable, Equatable, Codable, CaseIterable {
    /// IEEE binary32, as computed.
    case float32 = "f32"
    /// bfloat16: the top 16 bits of the binary32 value, rounded to nearest even (``BFloat16``).
    case bfloat16 = "bf16"

    /// Bytes of one stored feature value.
    public var bytesPerValue: Int { self == .float32 ? 4 : 2 }

    /// The code of the support snapshot's sixth header field (format version 2), in its low byte.
    var snapshotCode: UInt64 { self == .float32 ? 1 : 2 }

    /// The precision a snapshot header's sixth field names in its low byte (0: a version-1 file,
    /// float32).
    init?(snapshotCode: UInt64) {
        switch snapshotCode & 0xFF {
        case 0, 1: self = .float32
        case 2: self = .bfloat16
        default: return nil
        }
    }
}

/// bfloat16 conversion (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training"):
/// the sign, the 8 exponent bits and the top 7 mantissa bits of an IEEE binary32 value.
///
/// ```
/// narrow(x) = (bits(x) + 0x7FFF + ((bits(x) >> 16) & 1)) >> 16        round to nearest, ties to even
/// widen(h)  = Float(bitPattern: UInt32(h) << 16)                      exact
/// |widen(narrow(x)) − x| ≤ 2⁻⁸ · 2^⌊log₂|x|⌋ ≤ 2⁻⁸ · |x|          half a bf16 ulp, for normal x that does not overflow
///                                                                  (a subnormal x may lose all its digits)
/// ```
///
/// Special values: ±0, ±∞ and subnormals follow the same integer rounding (a subnormal may round
/// to zero or up to the smallest normal, an absolute error ≤ 2⁻¹³⁴; −0 stays −0). A NaN stays a NaN of the same sign
/// (quietened: mantissa bit 6 set, so a NaN whose payload sits in the low 16 bits cannot round to
/// ∞). A finite value above bf16's largest finite value (≈ 3.3895 · 10³⁸) rounds to ±∞ when it is
/// at least halfway to 2¹²⁸, as IEEE round-to-nearest does; support rows are finite meta-layer
/// inputs far below that, and a non-finite row would send its request to the base towers
/// (serving's non-finite fallback), never crash.
public enum BFloat16 {
    /// The bfloat16 bit pattern nearest to `x` (ties to even).
    @inline(__always)
    public static func narrow(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }  // NaN: keep it one
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// The binary32 value of the bfloat16 bit pattern `h` (exact).
    @inline(__always)
    public static func widen(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }

    /// `out[i] = narrow(values[i])` for `i < count`.
    ///
    /// - Complexity: O(count), no allocation.
    public static func narrow(_ values: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt16>) {
        for i in 0..<count { out[i] = narrow(values[i]) }
    }

    /// `out[i] = widen(values[i])` for `i < count`.
    ///
    /// - Complexity: O(count), no allocation.
    public static func widen(_ values: UnsafePointer<UInt16>, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = widen(values[i]) }
    }
}
