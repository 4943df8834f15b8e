import TensorCore

/// Exact top-N by inner product over a whole catalogue: blocked GEMM, then a bounded heap per
/// query (partial selection), with optional per-query exclusions (already-seen items).
///
/// ```
/// for each block of items I (n_b rows):  S = V[I] · Qᵀ           (n_b, Q)  one GEMM
///                                        S[i, q] = −∞ for i excluded for q
///                                        heap_q.offer(S[i, q], i) for i ∈ I
/// result_q = the k best (score, id) pairs, best first; ties broken by the lower id
/// V (N, d) items   Q (Q, d) queries
/// ```
/// The item matrix is read once per block for all queries of a call. Scratch (the score block,
/// the heaps) is kept and only grows, so a search allocates nothing once it has run at the
/// largest `Q · k` and `Q · n_b` (after warm-up); the GEMM's own packing buffer is per thread.
/// - Complexity: `2·N·d·Q` flops + `N·Q` comparisons + `O(accepted · log k)`.
public struct InnerProductSearch: Sendable {
    /// `V`, `(N, d)`.
    public let items: Tensor
    /// Items per GEMM block, `n_b`.
    public let blockSize: Int
    private var block: [Float] = []
    private var heapSizes: [Int] = []
    /// `(Q, k)` ids of the last search, best first per query (`count(of:)` valid per row).
    public private(set) var ids: [Int32] = []
    /// `(Q, k)` scores of the last search.
    public private(set) var scores: [Float] = []
    /// `k` of the last search.
    public private(set) var k = 0

    /// An index over `items` `(N, d)`.
    public init(items: Tensor, blockSize: Int = 2048) {
        precondition(items.rank == 2 && blockSize >= 1, "InnerProductSearch: items \(items.shape), block \(blockSize)")
        self.items = items
        self.blockSize = blockSize
    }

    /// `N`.
    public var count: Int { items.shape[0] }

    /// How many results query `q` of the last search holds (`min(k, N − excluded)`).
    public func count(of q: Int) -> Int { heapSizes[q] }

    /// Finds each query's `k` best items. `excluded(q)` lists the items query `q` must not
    /// return (ids outside `0 ..< N` are ignored).
    public mutating func search<C: Collection<Int32>>(queries: Tensor, k: Int, excluded: (Int) -> C) {
        let (n, d) = items.matrixShape("InnerProductSearch.search", "items")
        let (nq, dq) = queries.matrixShape("InnerProductSearch.search", "queries")
        precondition(dq == d && k >= 0, "InnerProductSearch: queries \(queries.shape) for items \(items.shape), k = \(k)")
        self.k = k
        if ids.count < nq * k {
            ids = [Int32](repeating: 0, count: nq * k)
            scores = [Float](repeating: 0, count: nq * k)
        }
        if block.count < nq * blockSize { block = [Float](repeating: 0, count: nq * blockSize) }
        if heapSizes.count != nq { heapSizes = [Int](repeating: 0, count: nq) } else { for q in 0..<nq { heapSizes[q] = 0 } }
        guard k > 0 else { return }
        var start = 0
        while start < n {
            let rows = min(blockSize, n - start)
            scoreBlock(start: start, rows: rows, queries: queries, dimension: d, excluded: excluded)
            start += rows
        }
        Borrow.update(&scores, &ids) { s, i in
            for q in 0..<nq {
                var heap = TopKSelection(scores: s + q * k, ids: i + q * k, k: k, size: heapSizes[q])
                _ = heap.finish()
            }
        }
    }

    /// One block: the GEMM, the exclusions, the heaps' offers.
    private mutating func scoreBlock<C: Collection<Int32>>(
        start: Int, rows: Int, queries: Tensor, dimension d: Int, excluded: (Int) -> C
    ) {
        let nq = queries.shape[0], k = self.k
        Borrow.update(&block) { s in
            Borrow.read(items, queries) { v, qs in
                GEMM.compute(m: rows, n: nq, k: d, a: v + start * d, lda: d, b: qs, ldb: d, transposeB: true, c: s, ldc: nq)
            }
            for q in 0..<nq {
                for id in excluded(q) where Int(id) >= start && Int(id) < start + rows {
                    s[(Int(id) - start) * nq + q] = -.infinity
                }
            }
        }
        Borrow.update(&scores, &ids, &heapSizes) { sc, id, sizes in
            Borrow.read(block) { s in
                for q in 0..<nq {
                    var heap = TopKSelection(scores: sc + q * k, ids: id + q * k, k: k, size: sizes[q])
                    for i in 0..<rows {
                        let value = s[i * nq + q]
                        guard value >= heap.threshold && value > -.infinity else { continue }
                        heap.offer(value, Int32(start + i))
                    }
                    sizes[q] = heap.size
                }
            }
        }
    }

    /// Query `q`'s results of the last search, best first.
    public func results(of q: Int) -> [(id: Int32, score: Float)] {
        (0..<heapSizes[q]).map { (ids[q * k + $0], scores[q * k + $0]) }
    }
}
