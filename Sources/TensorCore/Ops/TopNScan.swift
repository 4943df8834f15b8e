import CKernels

/// The running state of one top-N scan (``TopNScan``): the `k` best lower bounds seen (a
/// min-heap; the threshold is its minimum once it holds `k`, `−∞` before) and the candidates,
/// every item whose upper bound reached the threshold when it was scanned, with that bound.
///
/// ```
/// threshold L = k-th best lower bound so far        (never above the k-th best exact score)
/// candidate i ⇔ upper_i ≥ L when i was scanned      (a superset of {i : upper_i ≥ L_final})
/// ```
/// Buffers are kept and only grow (``reset(items:k:capacity:)``), so a warm scan allocates
/// nothing. When the candidate buffer fills, entries below the threshold are dropped; if it is
/// still more than half full the scan stops with ``overflowed`` set (the caller must then
/// score every item exactly).
public struct TopNScanState: Sendable {
    /// `(capacity)` candidate ids, ``count`` valid.
    public private(set) var ids: [Int32] = []
    /// `(capacity)` the candidates' upper bounds (the exact scores in an fp32 scan).
    public private(set) var bounds: [Float] = []
    private var heap: [Float] = []
    private var heapSize = 0
    /// Valid candidates.
    public private(set) var count = 0
    /// The final threshold `L`.
    public private(set) var threshold: Float = -.infinity
    /// Whether the candidate buffer overflowed (the scan stopped early).
    public private(set) var overflowed = false
    private var items = 0, k = 0, capacity = 0

    public init() {}

    /// Empties the state for a scan of `items` items keeping the `k` best, with room for
    /// `capacity` candidates (`capacity ≥ 2·k + 2` unless `capacity ≥ items`).
    public mutating func reset(items: Int, k: Int, capacity: Int) {
        precondition(items >= 0 && k >= 0 && capacity >= 1 && (capacity >= items || capacity >= 2 * k + 2),
                     "TopNScanState: items \(items), k \(k), capacity \(capacity)")
        if heap.count < k { heap = [Float](repeating: 0, count: k) }
        if ids.count < capacity {
            ids = [Int32](repeating: 0, count: capacity)
            bounds = [Float](repeating: 0, count: capacity)
        }
        (self.items, self.k, self.capacity) = (items, k, capacity)
        (heapSize, count, threshold, overflowed) = (0, 0, -.infinity, false)
    }

    /// Runs `body` on the C view of this state and stores back what it changed.
    mutating func withC(excluded: UnsafePointer<UInt64>?, _ body: (UnsafeMutablePointer<mr_topn_state>) -> Void) {
        let (n, k, capacity) = (items, self.k, self.capacity)
        var st = mr_topn_state()
        heap.withUnsafeMutableBufferPointer { h in
            ids.withUnsafeMutableBufferPointer { i in
                bounds.withUnsafeMutableBufferPointer { b in
                    st = mr_topn_state(n: n, k: k, capacity: capacity, heap: h.baseAddress, ids: i.baseAddress,
                                       bounds: b.baseAddress, excluded: excluded, heap_size: heapSize, count: count,
                                       threshold: threshold, overflow: overflowed ? 1 : 0)
                    body(&st)
                }
            }
        }
        (heapSize, count, threshold, overflowed) = (st.heap_size, st.count, st.threshold, st.overflow != 0)
    }
}

/// Exact top-N by inner product for one query, the scanning half (C kernels `topn_scan*.c`):
/// items in panels of ``lanes``, dimension-major inside a panel, one SIMD lane per item.
///
/// ```
/// fp32 panels  panels[(p·d + j)·64 + l] = V[64p + l, j]          (P, d, 64)   score a_i = q·v_i
/// int8 panels  codes[((p·d4 + g)·64 + l)·4 + r] = c[64p + l, 4g + r] + 128    a_i = scale_i·s_q·(cq·c_i)
///              upper_i = fma(q2, n_i, fma(q1, e_i, a_i)), lower_i with −q1, −q2
/// every fp32 dot product: acc = 0; acc = fma(q_j, x_j, acc) for j = 0 ..< d   (one order, all levels)
/// ```
/// The int8 sums are exact integers, so `a_i` is the same at every level too. Because every level and ``scoreRows(_:dimension:query:ids:first:count:out:level:)`` use the
/// same chain of fused multiply-adds, an fp32 score is bit-identical wherever it is computed.
public enum TopNScan {
    /// Items per panel.
    public static let lanes = Int(MR_TOPN_LANES)

    /// Scans `panelCount` fp32 panels of `dimension` into `state` (already ``TopNScanState/reset(items:k:capacity:)``).
    /// `excluded`: a bitmap over item ids (bit `i % 64` of word `i / 64`) or nil.
    public static func float32(
        panels: UnsafePointer<Float>, panelCount: Int, dimension: Int, query: UnsafePointer<Float>,
        excluded: UnsafePointer<UInt64>?, state: inout TopNScanState, level: SIMDLevel = .inUse
    ) {
        precondition(level <= .cpu && panelCount >= 0 && dimension >= 1, "TopNScan.float32: level \(level), panels \(panelCount), d \(dimension)")
        state.withC(excluded: excluded) { mr_topn_scan_f32_at_level(Int32(level.rawValue), panels, panelCount, dimension, query, $0) }
    }

    /// Scans `panelCount` int8 panels of `groups` groups of four dimensions (codes `c + 128`) by
    /// the exact integer dot product with the query codes `queryCodes` (`4·groups`), with per-item
    /// `scales`, `errors`, `norms` (`(64·panelCount)` each): `a_i = fl(fl(t_i·scale_i)·queryScale)`,
    /// `upper_i = fma(q2, norm_i, fma(q1, err_i, a_i))`, `lower_i` with `−q1, −q2`.
    public static func int8(
        codes: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, errors: UnsafePointer<Float>, norms: UnsafePointer<Float>,
        panelCount: Int, groups: Int, queryCodes: UnsafePointer<Int8>, queryScale: Float, q1: Float, q2: Float,
        excluded: UnsafePointer<UInt64>?, state: inout TopNScanState, level: SIMDLevel = .inUse
    ) {
        precondition(level <= .cpu && panelCount >= 0 && groups >= 1 && groups <= 256,
                     "TopNScan.int8: level \(level), panels \(panelCount), groups \(groups)")
        state.withC(excluded: excluded) {
            mr_topn_scan_i8_at_level(Int32(level.rawValue), codes, scales, errors, norms, panelCount, groups, queryCodes,
                                     queryScale, q1, q2, $0)
        }
    }

    /// Whether the int8 scan runs on AVX-512 VNNI at the AVX-512 level (else plain integer loops).
    public static var hasVNNI: Bool { mr_cpu_has_avx512_vnni() != 0 }

    /// `out[r] = q·V[ids[r]]` (or `q·V[first + r]` when `ids` is nil) for `r < count`, `V (·, d)`
    /// row-major, in the scans' order: equal to an fp32 scan's scores bit for bit.
    public static func scoreRows(
        _ v: UnsafePointer<Float>, dimension: Int, query: UnsafePointer<Float>, ids: UnsafePointer<Int32>?,
        first: Int, count: Int, out: UnsafeMutablePointer<Float>, level: SIMDLevel = .inUse
    ) {
        precondition(level <= .cpu && count >= 0 && dimension >= 1, "TopNScan.scoreRows: level \(level), count \(count), d \(dimension)")
        mr_topn_score_rows_at_level(Int32(level.rawValue), v, dimension, query, ids, first, count, out)
    }
}
