import TensorCore

/// Exact top-`k` by inner product for one query over the whole catalogue, without a BLAS call:
/// a GEMV fused with partial selection (C kernels, AVX-512 / AVX2 / portable), over either the
/// fp32 items or a compact int8 copy whose error bound keeps the result exact.
///
/// ```
/// s_i    = fl(q·v_i): acc = 0; acc = fma(q_j, v_ij, acc) for j = 0 ..< d        the exact fp32 score
/// result = the k best i ∉ excluded by (s_i desc, i asc); NaN and −∞ scores never returned
///
/// .float32  one pass over Float32Panels: s_i directly, kept if s_i ≥ the k-th best so far
/// .int8     q quantized to int8 (cq, s_q), one pass over Int8Panels: a_i = s_q·scale_i·(cq·c_i)
///           (exact integer dot product), |s_i − a_i| ≤ b_i = Q1·e_i + Q2·n_i (Int8Panels' bound),
///           L = k-th best lower bound a_i − b_i  (≤ the k-th best s: k items reach it),
///           candidates C = {i : a_i + b_i ≥ L} ⊇ the exact top-k (each has s_i ≥ s_(k) ≥ L),
///           then s_i re-scored in fp32 from V for i ∈ C and the k best of C taken
/// ```
/// Both modes return the same ids *and* scores as a full sort of `s` (bit for bit: every path
/// computes `s_i` with the same fma chain, ``TopNScan``). Ties go to the lower id. When the
/// candidate buffer overflows (e.g. thousands of near-equal scores) or the query's norm is outside
/// the range where the bound is proven (``Int8Panels``), every item is scored exactly instead:
/// slower, still exact.
///
/// Scratch (candidates, heap, exclusion bitmap, results) is kept and only grows: a search
/// allocates nothing once warm. A value used by one thread at a time.
/// - Complexity: one pass over `N·d·4` bytes (fp32) or `N·(4⌈d/4⌉ + 12)` bytes (int8), plus
///   `O(|C|·d)` to re-score and `O(|C| log k)` to select.
public struct CatalogueScan: Sendable {
    /// What the scan reads.
    public enum Precision: Sendable, Equatable {
        /// The fp32 panels (4·d bytes per item).
        case float32
        /// The int8 codes, a scale and two bound terms per item (4⌈d/4⌉ + 12 bytes), re-scored in fp32.
        case int8
    }

    private enum Storage: Sendable {
        case float32(Float32Panels)
        case int8(Int8Panels)
    }

    /// `V (N, d)`, row-major: the source of every exact score.
    public let items: Tensor
    /// What the scan reads.
    public let precision: Precision
    private let storage: Storage
    let level: SIMDLevel
    var state = TopNScanState()
    var excludedBits: [UInt64]
    var scratchIds: [Int32] = []
    var scratchScores: [Float] = []
    /// `(4·d4)` the query's int8 codes `cq` (pad dimensions 0).
    var queryCodes: [Int8] = []
    /// `(k)` ids of the last search, best first (``count`` valid).
    public internal(set) var ids: [Int32] = []
    /// `(k)` their exact fp32 scores.
    public internal(set) var scores: [Float] = []
    /// Results of the last search: `min(k, items not excluded with a score above −∞)`.
    public internal(set) var count = 0
    /// Items the last search re-scored in fp32 (`|C|`; every item after a fallback).
    public internal(set) var rescored = 0
    /// Whether the last search fell back to scoring every item exactly.
    public internal(set) var fellBack = false

    /// A scan over `items` `(N, d)`, every value finite; builds the panels of `precision`.
    public init(items: Tensor, precision: Precision = .int8, level: SIMDLevel = .inUse) {
        let (n, _) = items.matrixShape("CatalogueScan", "items")
        precondition(items.scalars.allSatisfy(\.isFinite), "CatalogueScan: items hold a non-finite value")
        precondition(n <= Int(Int32.max), "CatalogueScan: \(n) items: ids are Int32")
        precondition(level <= .cpu, "CatalogueScan: this CPU cannot run the \(level) kernels")
        self.items = items
        self.precision = precision
        self.level = level
        storage = precision == .float32 ? .float32(Float32Panels(items: items)) : .int8(Int8Panels(items: items))
        excludedBits = [UInt64](repeating: 0, count: (n + 63) / 64)
    }

    /// `N`.
    public var itemCount: Int { items.shape[0] }

    /// Bytes one scan reads (panels, plus scales and bound terms for int8); re-scoring is extra.
    public var bytesPerScan: Int {
        switch storage {
        case .float32(let p): p.bytes
        case .int8(let p): p.bytes
        }
    }

    /// The results of the last search, best first.
    public var results: [(id: Int32, score: Float)] { (0..<count).map { (ids[$0], scores[$0]) } }

    /// Finds the `k` best items for `query` (`d` values, any shape), none of `excluding` (ids
    /// outside `0 ..< N` ignored), into ``ids`` / ``scores`` / ``count``.
    /// - Precondition: `query.count == d`, `k ≥ 0`.
    public mutating func search<C: Collection<Int32>>(query: Tensor, k: Int, excluding: C) {
        let (n, d) = (items.shape[0], items.shape[1])
        precondition(query.count == d && k >= 0, "CatalogueScan: query \(query.shape) for items \(items.shape), k = \(k)")
        if ids.count < k {
            ids = [Int32](repeating: 0, count: k)
            scores = [Float](repeating: 0, count: k)
        }
        (count, rescored, fellBack) = (0, 0, false)
        guard k > 0, n > 0 else { return }
        setExcluded(excluding, to: true)
        defer { setExcluded(excluding, to: false) }
        Borrow.read(query) { q in
            let capacity = min(n, max(4096, 4 * k + 2))
            state.reset(items: n, k: k, capacity: capacity)
            if scan(q, dimension: d) && !state.overflowed {
                selectCandidates(q, dimension: d, k: k)
            } else {
                scoreEverything(q, dimension: d, k: k)
            }
        }
    }

    /// Marks (or clears) the excluded ids in the bitmap.
    private mutating func setExcluded<C: Collection<Int32>>(_ excluding: C, to on: Bool) {
        let n = items.shape[0]
        for id in excluding where id >= 0 && Int(id) < n {
            let (w, b) = (Int(id) >> 6, UInt64(1) << UInt64(id & 63))
            if on { excludedBits[w] |= b } else { excludedBits[w] &= ~b }
        }
    }

    /// The scan; false when the query's norm is outside the int8 bound's proven range.
    private mutating func scan(_ q: UnsafePointer<Float>, dimension d: Int) -> Bool {
        let level = self.level
        switch storage {
        case .float32(let p):
            Borrow.read(p.values, excludedBits) { v, x in
                TopNScan.float32(panels: v, panelCount: p.panelCount, dimension: d, query: q, excluded: x, state: &state, level: level)
            }
            return true
        case .int8(let p):
            guard let bounds = quantizeQuery(q, dimension: d, panels: p) else { return false }
            Borrow.read(p.codes, p.scales, p.errors, p.norms) { c, s, e, nn in
                Borrow.read(queryCodes, excludedBits) { qc, x in
                    TopNScan.int8(codes: c, scales: s, errors: e, norms: nn, panelCount: p.panelCount, groups: p.groups,
                                  queryCodes: qc, queryScale: bounds.scale, q1: bounds.q1, q2: bounds.q2, excluded: x,
                                  state: &state, level: level)
                }
            }
            return true
        }
    }
}
