import Foundation

/// Recall@K and nDCG@K of one ranked list against a set of relevant items (binary gain), the
/// definitions of MetaTrain's per-user metrics (`docs/DESIGN.md` §Personalisation):
///
/// ```
/// recall@K = |top_K ∩ T| / min(K, |T|)                       (a perfect ranking scores 1)
/// nDCG@K   = Σ_{r ≤ K, item_r ∈ T} 1/log2(r + 1)  /  Σ_{r ≤ min(K, |T|)} 1/log2(r + 1)
/// ```
/// `r` is the 1-based rank; a list shorter than K counts its missing ranks as misses.
public enum RetrievalMetrics {
    /// The cut-offs reported: K = 10, 50, 100.
    public static let cutoffs = [10, 50, 100]

    /// Recall@K; `nil` when nothing is relevant.
    public static func recall(_ ranked: some Collection<Int32>, relevant: Set<Int32>, k: Int) -> Double? {
        guard !relevant.isEmpty, k >= 1 else { return nil }
        let hits = ranked.prefix(k).reduce(0) { $0 + (relevant.contains($1) ? 1 : 0) }
        return Double(hits) / Double(min(k, relevant.count))
    }

    /// nDCG@K with binary gain; `nil` when nothing is relevant.
    public static func ndcg(_ ranked: some Collection<Int32>, relevant: Set<Int32>, k: Int) -> Double? {
        guard !relevant.isEmpty, k >= 1 else { return nil }
        var dcg = 0.0, ideal = 0.0
        for (r, item) in ranked.prefix(k).enumerated() where relevant.contains(item) { dcg += 1 / log2(Double(r) + 2) }
        for r in 0..<min(k, relevant.count) { ideal += 1 / log2(Double(r) + 2) }
        return dcg / ideal
    }
}

/// One evaluated case's metrics: `recall[K]`, `ndcg[K]` for K in ``RetrievalMetrics/cutoffs``.
public struct CaseMetrics: Sendable, Equatable {
    /// Index into the log's users.
    public var user: Int
    /// Length of the history the case was ranked from.
    public var historyLength: Int
    /// Recall@K by K.
    public var recall: [Int: Double]
    /// nDCG@K by K.
    public var ndcg: [Int: Double]

    /// Metrics of `ranked` (best first) against `evaluationCase`'s targets.
    public init(_ evaluationCase: NextItemSplit.Case, ranked: [Int32], cutoffs: [Int] = RetrievalMetrics.cutoffs) {
        user = evaluationCase.user
        historyLength = evaluationCase.history.count
        let relevant = Set(evaluationCase.targets)
        recall = Dictionary(uniqueKeysWithValues: cutoffs.map { ($0, RetrievalMetrics.recall(ranked, relevant: relevant, k: $0) ?? 0) })
        ndcg = Dictionary(uniqueKeysWithValues: cutoffs.map { ($0, RetrievalMetrics.ndcg(ranked, relevant: relevant, k: $0) ?? 0) })
    }

    /// The history-length bucket of the case: `"<30"`, `"30-99"`, `"100-299"`, `">=300"`.
    public var bucket: String { Self.bucket(ofLength: historyLength) }

    /// The bucket names in order.
    public static let buckets = ["<30", "30-99", "100-299", ">=300"]

    /// The bucket of a history of `length` items.
    public static func bucket(ofLength length: Int) -> String {
        switch length {
        case ..<30: "<30"
        case 30..<100: "30-99"
        case 100..<300: "100-299"
        default: ">=300"
        }
    }
}
