import TensorCore

/// Recall for one user at serving time (`POST /v1/recommend`, `docs/DESIGN.md` §Retrieval):
/// the user tower over the history, then exact top-`n` by inner product over the whole index.
///
/// ```
/// u     = normalize(MLP_u(Enc(history)))         (1, d)   history: catalogue rows, oldest first, last L kept
/// s_i   = ⟨u, v_i⟩                                 cosine (the training logit is s_i / τ; τ does not change the order)
/// top_n = the n best i ∉ excluded by s_i, best first, ties to the lower row
/// ```
/// An empty history encodes as `Enc = 0` (bag of words: the masked mean of nothing; GRU: the
/// initial state), so `u = normalize(MLP_u(0))`: the same non-personal query for every user
/// without history.
///
/// The search is ``CatalogueScan`` over the int8 copy of `V` built here at load (the model
/// directory holds fp32 only): one pass over `d + 8` bytes per item, the candidates the error
/// bound cannot rule out re-scored in fp32, so the result is the exact fp32 top-`n`.
///
/// A value used by one thread at a time; the search's scratch, the tower's workspace and the
/// history batch are kept, so a recall allocates nothing in the search once warm (the result
/// buffers grow to the largest `n` seen).
public struct CatalogueRecall: Sendable {
    /// The model: parameters, `V (N, d)` and the item keys.
    public let model: RetrievalModel
    private var search: CatalogueScan
    private var workspace = UserTowerWorkspace()
    private var history: HistoryBatch

    /// A recall over `model`'s index, scanned at `precision` (the int8 copy by default; both are exact).
    public init(model: RetrievalModel, precision: CatalogueScan.Precision = .int8) {
        self.model = model
        search = CatalogueScan(items: model.index.embeddings, precision: precision)
        history = HistoryBatch(maxLength: max(1, model.manifest.maxHistory))
    }

    /// The `n` best rows for the user whose history is `rows` (catalogue rows, oldest first),
    /// none of `excluding`, best first, written into `out` (emptied first, capacity kept).
    /// - Precondition: every row of `rows` is in `0 ..< N`; `n ≥ 0`.
    public mutating func recall(history rows: [Int32], excluding: [Int32], n: Int, into out: inout [(row: Int32, score: Float)]) {
        precondition(n >= 0, "CatalogueRecall: n = \(n)")
        let items = model.index.count
        precondition(rows.allSatisfy { $0 >= 0 && Int($0) < items }, "CatalogueRecall: a history row outside 0..<\(items)")
        history.removeAll()
        history.append(rows)
        UserTower.forward(model.parameters, history: history, workspace: &workspace)
        search.search(query: workspace.output, k: min(n, items), excluding: excluding)
        out.removeAll(keepingCapacity: true)
        for j in 0..<search.count { out.append((search.ids[j], search.scores[j])) }
    }

    /// `u` of the last recall, `(1, d)`.
    public var lastQuery: Tensor { workspace.output }

    /// Rows the last recall's search re-scored in fp32, and whether it fell back to scoring every row.
    public var lastSearchWork: (rescored: Int, fellBack: Bool) { (search.rescored, search.fellBack) }
}
