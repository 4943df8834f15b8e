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
/// without history. With an ``adaptation``, `u` is then adapted on the history's last items
/// (``UserAdaptation``: `k` passes over `V` each way, `O(k·N·d)`, before the search).
///
/// The search is ``CatalogueScan``: over `V`'s fp32 panels, or (``defaultPrecision(items:dimension:)``)
/// over an int8 copy built here at load (the model directory holds fp32 only): one pass over
/// `4⌈d/4⌉ + 12` bytes per item, the candidates the error bound cannot rule out re-scored in fp32,
/// so the result is the exact fp32 top-`n` either way.
///
/// A value used by one thread at a time; the search's scratch, the tower's workspace and the
/// history batch are kept, so a recall allocates nothing in the search once warm (the result
/// buffers grow to the largest `n` seen; an adaptation allocates its small per-call arrays).
public struct CatalogueRecall: Sendable {
    /// The model: parameters, `V (N, d)` and the item keys.
    public let model: RetrievalModel
    private var search: CatalogueScan
    private var workspace = UserTowerWorkspace()
    private var history: HistoryBatch
    /// Per-request adaptation of `u` (nil or 0 steps: none).
    public let adaptation: UserAdaptation?
    private var adaptationWorkspace = UserAdaptation.Workspace()
    private var query = Tensor(shape: [0, 0])

    /// A recall over `model`'s index, scanned at `precision` (both are exact; default
    /// ``defaultPrecision(items:dimension:)``).
    public init(model: RetrievalModel, precision: CatalogueScan.Precision? = nil, adaptation: UserAdaptation? = nil) {
        self.model = model
        self.adaptation = adaptation.flatMap { $0.steps > 0 ? $0 : nil }
        let (n, d) = (model.index.count, model.index.embeddings.shape[1])
        search = CatalogueScan(items: model.index.embeddings, precision: precision ?? Self.defaultPrecision(items: n, dimension: d))
        history = HistoryBatch(maxLength: max(1, model.manifest.maxHistory))
    }

    /// The int8 copy where it pays and is proven: the VNNI integer dot product, `d ≤ 1024`, and an
    /// fp32 index of at least 4 MiB (below that it stays in cache, where the fp32 scan was as fast
    /// or faster: the Retrieval README's figures); the fp32 scan otherwise.
    public static func defaultPrecision(items n: Int, dimension d: Int) -> CatalogueScan.Precision {
        TopNScan.hasVNNI && d <= Int8Panels.maxDimension && n * d * 4 >= 4 << 20 ? .int8 : .float32
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
        query.resize(rows: 1, columns: workspace.output.shape[1])
        query.assign(workspace.output)
        lastAdaptationFellBack = false
        if let adaptation {
            adaptation.adapt(&query, histories: [history.history(0)], items: model.index.embeddings,
                             temperature: model.manifest.temperature, workspace: &adaptationWorkspace)
            if !query.isFinite {  // a step overflowed: recall from the unadapted u
                query.assign(workspace.output)
                lastAdaptationFellBack = true
            }
        }
        search.search(query: query, k: min(n, items), excluding: excluding)
        out.removeAll(keepingCapacity: true)
        for j in 0..<search.count { out.append((search.ids[j], search.scores[j])) }
    }

    /// `u` of the last recall (adapted, with an adaptation), `(1, d)`.
    public var lastQuery: Tensor { query }

    /// Whether the last recall's adapted `u` was not finite, so the unadapted one was searched.
    public private(set) var lastAdaptationFellBack = false

    /// Rows the last recall's search re-scored in fp32, and whether it fell back to scoring every row.
    public var lastSearchWork: (rescored: Int, fellBack: Bool) { (search.rescored, search.fellBack) }
}
