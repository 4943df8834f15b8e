import TensorCore

/// Ranks the whole catalogue for each case by the two-tower score: `u` of the case's history,
/// exact top-`k` by ``InnerProductSearch`` over the item embeddings, the history excluded;
/// with an `adaptation` (and the model's `τ`), `u` adapted on the case's own recent history items first.
public enum TwoTowerRanking {
    /// The top `k` items of every case, best first.
    public static func rank(
        _ cases: [NextItemSplit.Case], parameters: RetrievalParameters, itemEmbeddings: Tensor, maxHistory: Int, k: Int,
        adaptation: (rule: UserAdaptation, temperature: Float)? = nil
    ) -> [[Int32]] {
        let histories = cases.map(\.history)
        let users: Tensor
        if let adaptation, adaptation.rule.steps > 0 {
            users = adaptedUsers(parameters, histories: histories, maxHistory: maxHistory, items: itemEmbeddings,
                                 adaptation: adaptation.rule, temperature: adaptation.temperature)
        } else {
            users = UserTower.embed(parameters, histories: histories, maxLength: maxHistory)
        }
        var search = InnerProductSearch(items: itemEmbeddings)
        search.search(queries: users, k: k) { cases[$0].history }
        return cases.indices.map { q in search.results(of: q).map(\.id) }
    }

    /// `u` of every history adapted by `adaptation`, 256 users at a time (the softmax over the
    /// catalogue is `(256, N)`).
    static func adaptedUsers(
        _ parameters: RetrievalParameters, histories: [ArraySlice<Int32>], maxHistory: Int, items: Tensor,
        adaptation: UserAdaptation, temperature: Float
    ) -> Tensor {
        let d = items.shape[1], chunk = 256
        var out = Tensor(shape: [histories.count, d])
        var workspace = UserAdaptation.Workspace()
        var start = 0
        while start < histories.count {
            let end = min(histories.count, start + chunk)
            let slice = Array(histories[start..<end])
            var adapted = UserTower.embed(parameters, histories: slice, maxLength: maxHistory)
            adaptation.adapt(&adapted, histories: slice.map { $0.suffix(maxHistory) }, items: items, temperature: temperature,
                             workspace: &workspace)
            Borrow.update(&out) { o in Borrow.read(adapted) { u in (o + start * d).update(from: u, count: (end - start) * d) } }
            start = end
        }
        return out
    }
}
