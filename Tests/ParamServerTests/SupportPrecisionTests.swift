import Testing
@testable import ParamServer

/// bfloat16 conversion against a naive reference: the two bf16 neighbours of `x` compared in
/// `Double` (exact for binary32 values), the nearer one, ties to the even pattern; a value past
/// bf16's largest finite rounds as if the exponent were unbounded (the upper neighbour is 2¹²⁸,
/// which reads as ∞). `nil` for a NaN (any NaN result is right).
func referenceBFloat16(_ x: Float) -> UInt16? {
    guard !x.isNaN else { return nil }
    let bits = x.bitPattern
    let down = UInt16(truncatingIfNeeded: bits >> 16), up = down &+ 1
    if bits & 0xFFFF == 0 { return down }
    let lower = Double(Float(bitPattern: UInt32(down) << 16)).magnitude
    let upperValue = Float(bitPattern: UInt32(up) << 16)
    let upper = upperValue.isInfinite ? 0x1p128 : Double(upperValue).magnitude
    let value = Double(x).magnitude
    if value - lower < upper - value { return down }
    if value - lower > upper - value { return up }
    return down & 1 == 0 ? down : up
}

@Suite struct BFloat16Tests {
    /// Low halves that sit at, next to, and between the rounding boundaries.
    static let lowHalves: [UInt32] = [0, 1, 0x3FFF, 0x4000, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xC000, 0xFFFE, 0xFFFF]

    @Test func `narrow matches the naive reference on every high half and the boundary low halves`() {
        var mismatches: [UInt32] = []
        var rng = SplitMix(seed: 11)
        for high in UInt32(0)...0xFFFF {
            for low in Self.lowHalves + [UInt32(truncatingIfNeeded: rng.next()) & 0xFFFF] {
                let x = Float(bitPattern: high << 16 | low)
                let got = BFloat16.narrow(x)
                if let want = referenceBFloat16(x) {
                    if got != want { mismatches.append(x.bitPattern) }
                } else if !BFloat16.widen(got).isNaN || (got & 0x8000) != UInt16(high >> 15) << 15 {
                    mismatches.append(x.bitPattern)   // a NaN must stay a NaN of its sign
                }
            }
        }
        #expect(mismatches.isEmpty, "first mismatches (bit patterns): \(mismatches.prefix(8).map { String($0, radix: 16) })")
    }

    @Test func `ties go to the even pattern`() {
        // 1 + 2⁻⁸ is halfway between 1 (0x3F80, even) and 1 + 2⁻⁷ (0x3F81, odd): down to even.
        #expect(BFloat16.narrow(Float(bitPattern: 0x3F80_8000)) == 0x3F80)
        // 1 + 3·2⁻⁸ is halfway between 0x3F81 (odd) and 0x3F82 (even): up to even.
        #expect(BFloat16.narrow(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(BFloat16.narrow(Float(bitPattern: 0x3F80_8001)) == 0x3F81, "just above the tie rounds up")
    }

    @Test func `special values`() {
        #expect(BFloat16.narrow(0) == 0 && BFloat16.narrow(-0.0) == 0x8000, "signed zeros stay")
        #expect(BFloat16.narrow(.infinity) == 0x7F80 && BFloat16.narrow(-.infinity) == 0xFF80)
        for nan in [Float.nan, -Float.nan, Float.signalingNaN, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFF80_0001)] {
            let h = BFloat16.narrow(nan)
            #expect(BFloat16.widen(h).isNaN, "NaN \(String(nan.bitPattern, radix: 16)) stays NaN (a payload in the low half must not become ∞)")
            #expect(BFloat16.widen(h).sign == nan.sign)
        }
        #expect(BFloat16.narrow(.greatestFiniteMagnitude) == 0x7F80, "past halfway to 2¹²⁸: ∞, as IEEE rounding does")
        #expect(BFloat16.narrow(Float(bitPattern: 0x7F7F_7FFF)) == 0x7F7F, "below halfway: bf16's largest finite")
        #expect(BFloat16.narrow(.leastNonzeroMagnitude) == 0, "the smallest subnormal rounds to zero")
        #expect(BFloat16.narrow(Float(bitPattern: 0x007F_FFFF)) == 0x0080, "the largest subnormal rounds up to the smallest normal")
        #expect(BFloat16.widen(0x3F80) == 1 && BFloat16.widen(0xC000) == -2)
    }

    @Test func `every bf16 value survives widen then narrow, and the error bound holds`() {
        for h in UInt16(0)...UInt16.max where !BFloat16.widen(h).isNaN {
            #expect(BFloat16.narrow(BFloat16.widen(h)) == h)
        }
        var rng = SplitMix(seed: 3)
        for _ in 0..<10_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard x.isNormal, x.magnitude < 3e38 else { continue }
            let y = BFloat16.widen(BFloat16.narrow(x))
            #expect((y - x).magnitude <= x.magnitude * 0x1p-8, "\(x) → \(y)")
        }
    }

    @Test func `the buffer forms equal the scalar ones`() {
        var rng = SplitMix(seed: 5)
        let values = (0..<257).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        var narrow = [UInt16](repeating: 0, count: values.count), wide = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in narrow.withUnsafeMutableBufferPointer { BFloat16.narrow(v.baseAddress!, count: v.count, into: $0.baseAddress!) } }
        narrow.withUnsafeBufferPointer { n in wide.withUnsafeMutableBufferPointer { BFloat16.widen(n.baseAddress!, count: n.count, into: $0.baseAddress!) } }
        #expect(narrow == values.map(BFloat16.narrow))
        #expect(wide.map(\.bitPattern) == narrow.map { BFloat16.widen($0).bitPattern })
    }
}

extension SplitMix {
    /// Uniform in [−1, 1) times 10^e, e uniform in −3...3: meta-layer inputs of several magnitudes.
    mutating func value() -> Float {
        let u = Float(next() >> 40) / Float(1 << 24) * 2 - 1
        let e = Int(next() % 7) - 3
        var scale: Float = 1
        for _ in 0..<abs(e) { scale = e < 0 ? scale / 10 : scale * 10 }
        return u * scale
    }
}
