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
/// float scale (symmetric, round to nearest), in the layout of ``Float32Panels``, plus a per-item
/// error bound that makes the scan exact (``CatalogueScan`` re-scores the survivors in fp32).
///
/// ```
/// scale_i = max_j |v_ij| / 127      c_ij = round(v_ij / scale_i) ∈ [−127, 127]      v̂_i = scale_i · c_i
/// the scan's score  a_i = fl(fl(q·c_i) · scale_i)        (q·c_i: the fma chain over j = 0 ..< d)
/// the exact score   s_i = fl(q·v_i)                      (the same fma chain over v_i)
///
/// |s_i − q·v_i|  ≤ γ_d ‖q‖ ‖v_i‖                       (d roundings, γ_d = d·u / (1 − d·u), u = 2⁻²⁴)
/// |q·v_i − q·v̂_i| ≤ ‖q‖ ‖v_i − v̂_i‖                   (Cauchy–Schwarz)
/// |a_i − q·v̂_i|  ≤ ‖q‖ ‖v̂_i‖ (γ_d + u (1 + γ_d))      (the chain, then one product)
/// ⇒ |s_i − a_i| ≤ ‖q‖ · e_i,   e_i = ‖v_i − v̂_i‖ + γ_d ‖v_i‖ + (γ_d + u(1 + γ_d)) ‖v̂_i‖
/// ```
/// `errors[i]` is `e_i` widened by `4u(‖v̂_i‖ + e_i)` (so the single rounding of
/// `fma(±‖q‖, err_i, a_i)` cannot cross the true bound), by a relative `10⁻⁶`, and by an absolute
/// `(2d + 2)(1 + scale_i)·2⁻¹¹⁰` that covers gradual underflow for `‖q‖ ≥ 2⁻⁴⁰`
/// (each of the `≤ 2d + 1` roundings then errs by at most `u·|result| + 2⁻¹⁵⁰`); then rounded up to
/// a Float. Norms are summed in Double. The bound holds while nothing overflows:
/// ``CatalogueScan`` checks `2⁻⁴⁰ ≤ ‖q‖ ≤ 2¹⁰⁰` and `‖q‖·maxNorm ≤ 2¹²⁰` per query and otherwise
/// scores every item exactly.
///
/// 64 + 8 bytes per item at d = 64 (codes, scale, error) against 256 for fp32.
public struct Int8Panels: Sendable {
    /// `(P, d, 64)` codes.
    public let codes: [Int8]
    /// `(64·P)` per-item scales (0 for padding and zero rows).
    public let scales: [Float]
    /// `(64·P)` per-item error bounds (0 for padding).
    public let errors: [Float]
    /// `P`.
    public let panelCount: Int
    /// `max_i max(‖v_i‖, ‖v̂_i‖, 127·√d·scale_i)`: bounds every partial sum of a scan over `‖q‖`.
    public let maxNorm: Double

    /// The compact copy of `items` `(N, d)`, every value finite.
    public init(items: Tensor) {
        let (n, d) = items.matrixShape("Int8Panels", "items")
        let lanes = TopNScan.lanes
        panelCount = (n + lanes - 1) / lanes
        var codes = [Int8](repeating: 0, count: panelCount * d * lanes)
        var scales = [Float](repeating: 0, count: panelCount * lanes), errors = scales
        var maxNorm = 0.0
        Borrow.read(items) { v in
            for i in 0..<n {
                let row = UnsafeBufferPointer(start: v + i * d, count: d)
                let (p, l) = i.quotientAndRemainder(dividingBy: lanes)
                let q = Self.quantize(row) { j, c in codes[(p * d + j) * lanes + l] = c }
                (scales[i], errors[i]) = (q.scale, q.error)
                maxNorm = max(maxNorm, q.norm, q.quantizedNorm, 127 * Double(d).squareRoot() * Double(q.scale))
            }
        }
        (self.codes, self.scales, self.errors, self.maxNorm) = (codes, scales, errors, maxNorm)
    }

    /// One row's scale, codes (through `store(j, c_j)`) and error bound.
    static func quantize(
        _ row: UnsafeBufferPointer<Float>, store: (Int, Int8) -> Void
    ) -> (scale: Float, error: Float, norm: Double, quantizedNorm: Double) {
        let d = row.count
        let maxAbs = row.reduce(Float(0)) { max($0, abs($1)) }
        precondition(maxAbs.isFinite, "Int8Panels: a non-finite item value")
        let scale = maxAbs / 127
        var norm2 = 0.0, quantized2 = 0.0, residual2 = 0.0
        for j in 0..<d {
            let c = scale > 0 ? Int8(max(-127, min(127, (row[j] / scale).rounded()))) : 0
            store(j, c)
            let x = Double(row[j]), xhat = Double(scale) * Double(c)
            norm2 += x * x
            quantized2 += xhat * xhat
            residual2 += (x - xhat) * (x - xhat)
        }
        let u = 0x1p-24, gamma = Double(d) * u / (1 - Double(d) * u)
        let (norm, quantizedNorm) = (norm2.squareRoot(), quantized2.squareRoot())
        let e = residual2.squareRoot() + gamma * norm + (gamma + u * (1 + gamma)) * quantizedNorm
        let widened = (e + 4 * u * (quantizedNorm + e)) * (1 + 1e-6) + Double(2 * d + 2) * (1 + Double(scale)) * 0x1p-110
        return (scale, Float(widened).nextUp, norm, quantizedNorm)
    }

    /// Bytes one scan reads: codes, scales and error bounds.
    public var bytes: Int { codes.count + (scales.count + errors.count) * MemoryLayout<Float>.size }
}
