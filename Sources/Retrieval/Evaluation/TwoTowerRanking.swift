import TensorCore

/// Ranks the whole catalogue for each case by the two-tower score: `u` of the case's history,
/// exact top-`k` by ``InnerProductSearch`` over the item embeddings, the history excluded.
public enum TwoTowerRanking {
    /// The top `k` items of every case, best first.
    public static func rank(
        _ cases: [NextItemSplit.Case], parameters: RetrievalParameters, itemEmbeddings: Tensor, maxHistory: Int, k: Int
    ) -> [[Int32]] {
        let users = UserTower.embed(parameters, histories: cases.map(\.history), maxLength: maxHistory)
        var search = InnerProductSearch(items: itemEmbeddings)
        search.search(queries: users, k: k) { cases[$0].history }
        return cases.indices.map { q in search.results(of: q).map(\.id) }
    }
}
