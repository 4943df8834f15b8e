#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A baseline scorer for held-out users (`docs/DESIGN.md` §Personalisation): what per-user fine-tuning must beat on
/// the *order* of a user's candidates.
///
/// ```
/// item-mean      (Σ_u r_ui + m·μ) / (n_i + m)          one order for everyone (ItemStatistics)
/// popularity     n_i                                    one order for everyone
/// mf             μ + b + b_i + pᵀq_i, [p; b] folded in on the user's support (MatrixFactorization)
/// ```
public enum BaselineMethod: Sendable, Equatable {
    /// Item mean shrunk toward μ with `priorCount` = m pseudo-ratings.
    case itemMean(priorCount: Double)
    /// Training count of the item.
    case popularity
    /// Matrix factorisation with a per-user ridge fold-in.
    case matrixFactorization(MatrixFactorization.Settings)

    /// The CLI name: `item-mean`, `popularity`, `mf`.
    public var name: String {
        switch self {
        case .itemMean: "item-mean"
        case .popularity: "popularity"
        case .matrixFactorization: "mf"
        }
    }
}

/// A fitted ``BaselineMethod``.
public enum Baseline: Sendable {
    case itemMean(ItemStatistics, priorCount: Double)
    case popularity(ItemStatistics)
    case matrixFactorization(MatrixFactorization)

    /// Fits `method` on the training observations.
    public init(fitting method: BaselineMethod, to data: RatingMatrix) {
        switch method {
        case .itemMean(let m): self = .itemMean(ItemStatistics(data), priorCount: m)
        case .popularity: self = .popularity(ItemStatistics(data))
        case .matrixFactorization(let settings): self = .matrixFactorization(MatrixFactorization(training: data, settings: settings))
        }
    }

    /// One score per query item of `heldOut` (higher = ranked first).
    public func scores(_ heldOut: HeldOutRatings) -> [Double] {
        switch self {
        case .itemMean(let stats, let m): heldOut.query.map { stats.shrunkMean($0, priorCount: m) }
        case .popularity(let stats): heldOut.query.map { stats.popularity($0) }
        case .matrixFactorization(let mf): mf.scores(heldOut)
        }
    }
}

/// Per-user nDCG@K with graded gains, the criterion by which `metarec baseline` chooses a
/// setting on the validation fold (the reported per-user metrics are computed elsewhere, from
/// the scored-rows files):
///
/// ```
/// DCG@K  = Σ_{j<K} (2^{r_(j)} − 1) / log2(j + 2)     r_(j): rating of the j-th highest score (ties: file order)
/// nDCG@K = DCG@K / DCG@K of the ratings sorted descending;  users whose ideal DCG is 0 are skipped
/// ```
public enum RankingCriterion {
    /// nDCG@`k` of one user's `scores` against their `ratings`; `nil` when the ideal DCG is 0.
    public static func ndcg(scores: [Double], ratings: [Double], k: Int) -> Double? {
        precondition(scores.count == ratings.count, "ndcg: \(scores.count) scores, \(ratings.count) ratings")
        precondition(k >= 1, "ndcg: k = \(k)")
        func dcg(_ order: [Int]) -> Double {
            var s = 0.0
            for (j, i) in order.prefix(k).enumerated() {
                s += (exp2(ratings[i]) - 1) / log2(Double(j + 2))
            }
            return s
        }
        let byScore = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        let ideal = dcg(ratings.indices.sorted { ratings[$0] > ratings[$1] })
        return ideal > 0 ? dcg(byScore) / ideal : nil
    }
}
