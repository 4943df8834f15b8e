import ModelDescription
import ModelMath

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a task's labels are read by the per-user ranking metrics (`docs/DESIGN.md` §Personalisation).
///
/// ```
/// binary   labels 0/1 (relevant ⇔ label ≥ 0.5)   gain(r) = r          GAUC, nDCG@K, recall@K
/// graded   labels are grades, e.g. ratings        gain(r) = 2^r − 1    nDCG@K
/// ```
/// For labels in {0, 1} the two gains agree (2^r − 1 = r), so the scale only decides which
/// metrics are defined, never an nDCG value. Graded gains assume grades ≥ 0 (ratings); with
/// negative labels (e.g. a standardised regression target) gains go negative, users whose
/// IDCG@K ≤ 0 are skipped and others' nDCG may leave [0, 1].
public enum LabelScale: Sendable, Equatable {
    case binary
    case graded

    /// The scale of a model's task: binary tasks are binary, regression tasks graded.
    public init(_ kind: TaskKind) { self = kind == .binary ? .binary : .graded }

    /// Binary when every label is 0 or 1 (a scored-rows file carries no task kind), else graded.
    public init(inferredFrom labels: some Sequence<Double>) {
        self = labels.allSatisfy { $0 == 0 || $0 == 1 } ? .binary : .graded
    }

    /// The nDCG gain of label `r`.
    public func gain(_ r: Double) -> Double {
        switch self {
        case .binary: r
        case .graded: pow(2, r) - 1
        }
    }

    /// The per-user metrics defined for this scale, for each cut-off in `ks`:
    /// binary `[gauc, ndcg@k…, recall@k…]`, graded `[ndcg@k…]`.
    public func metrics(ks: [Int]) -> [PerUserMetric] {
        switch self {
        case .binary: [.gauc] + ks.map { .ndcg(k: $0) } + ks.map { .recall(k: $0) }
        case .graded: ks.map { .ndcg(k: $0) }
        }
    }
}

/// One user's scored rows of one task: parallel arrays of labels and predicted scores.
public struct UserRows: Sendable, Equatable {
    /// The rows' labels `(n)`.
    public var labels: [Double]
    /// The rows' predicted scores `(n)`, higher = ranked earlier.
    public var scores: [Double]

    /// A user's rows; `labels` and `scores` have the same length.
    public init(labels: [Double] = [], scores: [Double] = []) {
        precondition(labels.count == scores.count, "UserRows: \(labels.count) labels, \(scores.count) scores")
        self.labels = labels
        self.scores = scores
    }

    /// Rows of this user.
    public var count: Int { labels.count }

    /// Appends one row.
    public mutating func append(label: Double, score: Double) {
        labels.append(label)
        scores.append(score)
    }
}

/// A metric computed within one user's rows and then averaged over users (`docs/DESIGN.md`
/// §Personalisation): a per-user offset added to every score changes none of them.
///
/// ```
/// gauc        AUC of the user's rows; users with one label class are skipped;
///             the mean over users is weighted by the user's row count n_u:
///             GAUC = Σ_u n_u · AUC_u / Σ_u n_u
/// ndcg(k)     DCG@K / IDCG@K,  DCG@K = Σ_{i=1..min(K,n)} gain(r_(i)) / log2(i + 1),
///             r_(i) the label at predicted rank i, IDCG@K the same with the labels sorted
///             descending; users with IDCG@K ≤ 0 are skipped; unweighted mean over users
/// recall(k)   |relevant in the top K| / min(K, |relevant|) (binary labels; relevant ⇔ y ≥ 0.5);
///             users with no relevant row are skipped; unweighted mean over users
/// ```
/// Recall is normalised by `min(K, |relevant|)` rather than `|relevant|` so that a perfect
/// ranking scores 1 for every user, also users with more than K relevant rows.
public enum PerUserMetric: Hashable, Sendable, CustomStringConvertible {
    case gauc
    case ndcg(k: Int)
    case recall(k: Int)

    /// `gauc`, `ndcg@10`, `recall@5`: the metric's name in tables, JSON and files.
    public var description: String {
        switch self {
        case .gauc: "gauc"
        case .ndcg(let k): "ndcg@\(k)"
        case .recall(let k): "recall@\(k)"
        }
    }

    /// Whether the mean over users weights each user by its row count (GAUC) or not.
    public var isRowWeighted: Bool { self == .gauc }

    /// The metric of one user's rows, or `nil` when it is undefined for them (skipped).
    public func value(of user: UserRows, scale: LabelScale) -> Double? {
        switch self {
        case .gauc: RankingMetrics.auc(labels: user.labels, scores: user.scores)
        case .ndcg(let k): RankingMetrics.ndcg(labels: user.labels, scores: user.scores, k: k, scale: scale)
        case .recall(let k): RankingMetrics.recall(labels: user.labels, scores: user.scores, k: k)
        }
    }
}

/// Ranking metrics of one list of rows (one user's candidates). Pure functions.
public enum RankingMetrics {
    /// ROC AUC, the probability that a random positive outscores a random negative, ties 1/2:
    /// ```
    /// AUC = (Σ ranks of positives − P(P+1)/2) / (P·N)      ranks ascending by score, ties averaged
    /// ```
    /// - Returns: `nil` when the rows hold only one class (positive ⇔ label ≥ 0.5).
    /// - Complexity: O(n log n).
    public static func auc<Label: BinaryFloatingPoint, Score: BinaryFloatingPoint>(labels: [Label], scores: [Score]) -> Double? {
        precondition(labels.count == scores.count, "auc: \(labels.count) labels, \(scores.count) scores")
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSumPositive = 0.0, positives = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for t in i...j where labels[order[t]] >= 0.5 {
                rankSumPositive += averageRank
                positives += 1
            }
            i = j + 1
        }
        let negatives = Double(order.count) - positives
        guard positives > 0, negatives > 0 else { return nil }
        return (rankSumPositive - positives * (positives + 1) / 2) / (positives * negatives)
    }

    /// The order in which the rows are shown: descending score; among equal scores the lower
    /// label first (pessimistic: a tie never earns credit, and the order does not depend on the
    /// rows' input order); equal (score, label) rows are interchangeable for every metric.
    public static func ranking(labels: [Double], scores: [Double]) -> [Int] {
        precondition(labels.count == scores.count, "ranking: \(labels.count) labels, \(scores.count) scores")
        return scores.indices.sorted { (scores[$0], -labels[$0]) > (scores[$1], -labels[$1]) }
    }

    /// `Σ_{i=1..m} g_i / log2(i + 1)` over the first `m = min(k, gains.count)` gains.
    public static func dcg(gains: some Sequence<Double>, k: Int) -> Double {
        var total = 0.0
        for (i, g) in gains.prefix(k).enumerated() { total += g / log2(Double(i + 2)) }
        return total
    }

    /// nDCG@K = DCG@K / IDCG@K with `scale`'s gain (see ``PerUserMetric``).
    /// - Returns: `nil` when IDCG@K ≤ 0 (no row with a positive gain).
    public static func ndcg(labels: [Double], scores: [Double], k: Int, scale: LabelScale) -> Double? {
        precondition(k >= 1, "ndcg: k = \(k)")
        let ideal = dcg(gains: labels.map(scale.gain).sorted(by: >), k: k)
        guard ideal > 0 else { return nil }
        return dcg(gains: ranking(labels: labels, scores: scores).lazy.map { scale.gain(labels[$0]) }, k: k) / ideal
    }

    /// Recall@K = |relevant in the top K| / min(K, |relevant|), relevant ⇔ label ≥ 0.5.
    /// - Returns: `nil` when no row is relevant.
    public static func recall(labels: [Double], scores: [Double], k: Int) -> Double? {
        precondition(k >= 1, "recall: k = \(k)")
        let relevant = labels.count { $0 >= 0.5 }
        guard relevant > 0 else { return nil }
        let hits = ranking(labels: labels, scores: scores).prefix(k).count { labels[$0] >= 0.5 }
        return Double(hits) / Double(min(k, relevant))
    }
}
