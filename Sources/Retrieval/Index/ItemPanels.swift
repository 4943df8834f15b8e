import TensorCore

/// The catalogue `V (N, d)` re-laid for the one-query scan (``CatalogueScan``): panels of 64
/// items, dimension-major inside a panel (one SIMD lane per item, a panel read as one sequential
/// stream: four AVX-512 vectors per dimension), `N` padded to a multiple of
/// 64 with zero rows (ids `≥ N` are never returned).
///
/// ```
/// values[(p·d + j)·64 + l] = V[64p + l, j]          (P, d, 64),  P = ⌈N / 64⌉
/// ```
/// 4·d bytes per item: the same bytes a row-major scan reads.
public struct Float32Panels: Sendable {
    /// `(P, d, 64)`.
    public let values: [Float]
    /// `P`.
    public let panelCount: Int

    /// The panels of `items` `(N, d)`.
    public init(items: Tensor) {
        let (n, d) = items.matrixShape("Float32Panels", "items")
        let lanes = TopNScan.lanes
        panelCount = (n + lanes - 1) / lanes
        var values = [Float](repeating: 0, count: panelCount * d * lanes)
        Borrow.read(items) { v in
            for i in 0..<n {
                let (p, l) = i.quotientAndRemainder(dividingBy: lanes)
                for j in 0..<d { values[(p * d + j) * lanes + l] = v[i * d + j] }
            }
        }
        self.values = values
    }

    /// Bytes one scan reads.
    public var bytes: Int { values.count * MemoryLayout<Float>.size }
}

/// A compact copy of `V (N, d)` for the one-query scan: each item's row as int8 codes times one
/// float scale (symmetric, round to nearest), scanned by an exact integer dot product with the
/// query quantized the same way (AVX-512 VNNI), plus per-item terms of an error bound that make
/// the scan exact (``CatalogueScan`` re-scores the survivors in fp32).
///
/// ```
/// item   scale_i = max_j |v_ij| / 127,  c_ij = round(v_ij / scale_i) ∈ [−127, 127],  v̂_i = scale_i·c_i
/// query  s_q = max_j |q_j| / 127,       cq_j = round(q_j / s_q),                     q̂ = s_q·cq
/// stored codes[((p·d4 + g)·64 + l)·4 + r] = c[64p + l, 4g + r] + 128   (u8, d4 = ⌈d/4⌉, pad dims c = 0)
/// scan   t_i = cq·c_i (exact int32),  a_i = fl(fl(t_i · scale_i) · s_q)
/// exact  s_i = fl(q·v_i), the fma chain over j = 0 ..< d
///
/// |s_i − q·v_i|    ≤ γ_d ‖q‖ ‖v_i‖                          (d roundings, γ_d = d·u/(1 − d·u), u = 2⁻²⁴)
/// |q·v_i − q̂·v̂_i| ≤ ‖q‖ ‖v_i − v̂_i‖ + ‖q − q̂‖ ‖v̂_i‖      (Cauchy–Schwarz, twice)
/// |a_i − q̂·v̂_i|   ≤ 2.0001·u ‖q̂‖ ‖v̂_i‖                    (two products; t_i exact)
/// ⇒ |s_i − a_i| ≤ Q1·e_i + Q2·n_i,   e_i = ‖v_i − v̂_i‖ + γ_d ‖v_i‖,  n_i = ‖v̂_i‖,
///                                    Q1 = ‖q‖,  Q2 = ‖q − q̂‖ + 2.0001·u ‖q̂‖
/// ```
/// `errors[i]` is `e_i` widened by `4u(n_i + e_i)` (so the two roundings of
/// `fma(Q2, n_i, fma(Q1, e_i, a_i))` cannot cross the true bound: `‖q − q̂‖ ≤ 0.13‖q‖` for `d ≤ 1024`),
/// by a relative `10⁻⁶` and by an absolute `(2d + 8)·2⁻¹¹⁰` that covers gradual underflow for
/// `‖q‖ ≥ 2⁻⁴⁰` (each rounding then errs by at most `u·|result| + 2⁻¹⁵⁰`); `norms[i]` is `n_i`
/// widened by `10⁻⁶`; both rounded up to Floats. Norms are summed in Double. The bound holds while
/// nothing overflows: ``CatalogueScan`` checks `2⁻⁴⁰ ≤ ‖q‖ ≤ 2¹⁰⁰`, `‖q‖·maxNorm ≤ 2¹²⁰` and
/// `maxNorm ≤ 2¹¹⁰` per query and otherwise scores every item exactly.
///
/// 4·⌈d/4⌉ + 12 bytes per item (codes, scale, e, n): 76 at d = 64, against 256 for fp32.
public struct Int8Panels: Sendable {
    /// `(P, d4, 64, 4)` codes `c + 128`.
    public let codes: [UInt8]
    /// `(64·P)` per-item scales (0 for padding and zero rows).
    public let scales: [Float]
    /// `(64·P)` per-item `e_i` (0 for padding).
    public let errors: [Float]
    /// `(64·P)` per-item `n_i = ‖v̂_i‖` (0 for padding).
    public let norms: [Float]
    /// `P`.
    public let panelCount: Int
    /// `d4 = ⌈d/4⌉`: groups of four dimensions.
    public let groups: Int
    /// `max_i max(‖v_i‖, ‖v̂_i‖)`.
    public let maxNorm: Double

    /// The widest `d` the int8 bound is proven for (`|t| ≤ 127²·d < 2²⁴`: the integer dot product
    /// converts to Float exactly).
    public static let maxDimension = 1024

    /// The compact copy of `items` `(N, d)`, every value finite, `d ≤ maxDimension`.
    public init(items: Tensor) {
        let (n, d) = items.matrixShape("Int8Panels", "items")
        precondition(d <= Self.maxDimension, "Int8Panels: d = \(d) > \(Self.maxDimension)")
        let lanes = TopNScan.lanes, groups = (d + 3) / 4
        panelCount = (n + lanes - 1) / lanes
        self.groups = groups
        var codes = [UInt8](repeating: 128, count: panelCount * groups * 4 * lanes)
        var scales = [Float](repeating: 0, count: panelCount * lanes), errors = scales, norms = scales
        var maxNorm = 0.0
        Borrow.read(items) { v in
            for i in 0..<n {
                let row = UnsafeBufferPointer(start: v + i * d, count: d)
                let (p, l) = i.quotientAndRemainder(dividingBy: lanes)
                let q = Self.quantize(row) { j, c in codes[((p * groups + j / 4) * lanes + l) * 4 + j % 4] = UInt8(Int(c) + 128) }
                (scales[i], errors[i], norms[i]) = (q.scale, q.error, q.quantizedNorm)
                maxNorm = max(maxNorm, q.norm, Double(q.quantizedNorm))
            }
        }
        (self.codes, self.scales, self.errors, self.norms, self.maxNorm) = (codes, scales, errors, norms, maxNorm)
    }

    /// One row's scale, codes (through `store(j, c_j)`), `e` and `n` (widened, rounded up) and `‖v‖`.
    static func quantize(
        _ row: UnsafeBufferPointer<Float>, store: (Int, Int8) -> Void
    ) -> (scale: Float, error: Float, quantizedNorm: Float, norm: Double) {
        let d = row.count
        let maxAbs = row.reduce(Float(0)) { max($0, abs($1)) }
        precondition(maxAbs.isFinite, "Int8Panels: a non-finite item value")
        let scale = maxAbs / 127
        var norm2 = 0.0, quantized2 = 0.0, residual2 = 0.0
        for j in 0..<d {
            let c = Self.code(row[j], scale: scale)
            store(j, c)
            let x = Double(row[j]), xhat = Double(scale) * Double(c)
            norm2 += x * x
            quantized2 += xhat * xhat
            residual2 += (x - xhat) * (x - xhat)
        }
        let u = 0x1p-24, gamma = Double(d) * u / (1 - Double(d) * u)
        let (norm, quantizedNorm) = (norm2.squareRoot(), quantized2.squareRoot())
        let e = residual2.squareRoot() + gamma * norm
        let widened = (e + 4 * u * (quantizedNorm + e)) * (1 + 1e-6) + Double(2 * d + 8) * 0x1p-110
        return (scale, Float(widened).nextUp, Float(quantizedNorm * (1 + 1e-6)).nextUp, norm)
    }

    /// `round(x / scale)` clamped to `[−127, 127]`; 0 when `scale` is 0.
    @inline(__always) static func code(_ x: Float, scale: Float) -> Int8 {
        scale > 0 ? Int8(max(-127, min(127, (x / scale).rounded()))) : 0
    }

    /// Bytes one scan reads: codes, scales, `e` and `n`.
    public var bytes: Int { codes.count + (scales.count + errors.count + norms.count) * MemoryLayout<Float>.size }
}
