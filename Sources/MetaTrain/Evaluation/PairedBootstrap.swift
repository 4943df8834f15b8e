import TensorCore

/// The difference of a per-user metric between two variants scored on the same users, with a
/// paired bootstrap confidence interval over users (Efron & Tibshirani 1993, percentile
/// interval).
public struct PairedDifference: Sendable, Equatable {
    /// `mean_B − mean_A` over the users counted in both (the point estimate).
    public var mean: Double
    /// The interval's lower bound.
    public var low: Double
    /// The interval's upper bound.
    public var high: Double
    /// Users whose metric is defined in both variants.
    public var users: Int
    /// Bootstrap resamples drawn.
    public var resamples: Int
    /// Nominal coverage, e.g. 0.95.
    public var confidence: Double

    /// Whether the interval lies entirely above 0 (B better for a higher-is-better metric).
    public var isAboveZero: Bool { low > 0 }
    /// Whether the interval contains 0.
    public var containsZero: Bool { low <= 0 && 0 <= high }
}

/// Paired bootstrap over users: the users are resampled with replacement, and each resample's
/// statistic is the difference of the two variants' weighted means on the *same* resampled
/// users, so user-to-user spread that both variants share cancels.
///
/// ```
/// U          users whose metric is defined in A and in B, sorted by name (n = |U|)
/// Δ(S)       Σ_{u∈S} w^B_u m^B_u / Σ_{u∈S} w^B_u  −  Σ_{u∈S} w^A_u m^A_u / Σ_{u∈S} w^A_u
///            (S a multiset of users; weights as in ``PerUserValues``: rows for GAUC, else 1)
/// estimate   Δ(U)
/// interval   the (1−c)/2 and (1+c)/2 quantiles of Δ(S_1 … S_R), S_r = n draws from U with
///            replacement (seeded), quantiles linearly interpolated between order statistics
/// ```
public enum PairedBootstrap {
    /// The default number of resamples.
    public static let defaultResamples = 2000

    /// `B − A` for one metric over the users counted in both.
    /// - Returns: `nil` when no user is counted in both.
    /// - Complexity: O(R · n) time, O(R + n) memory.
    public static func difference(
        a: PerUserValues, b: PerUserValues, resamples: Int = defaultResamples, seed: UInt64 = 1, confidence: Double = 0.95
    ) -> PairedDifference? {
        precondition(a.metric == b.metric, "PairedBootstrap: metrics \(a.metric) and \(b.metric) differ")
        precondition(resamples >= 1, "PairedBootstrap: resamples = \(resamples)")
        precondition(confidence > 0 && confidence < 1, "PairedBootstrap: confidence = \(confidence)")
        let users = a.values.keys.filter { b.values[$0] != nil }.sorted()
        guard !users.isEmpty else { return nil }
        let wa = users.map { a.weights[$0]! }, ma = users.map { a.values[$0]! }
        let wb = users.map { b.weights[$0]! }, mb = users.map { b.values[$0]! }
        func delta(_ draw: (Int) -> Int) -> Double {
            var sa = 0.0, sw = 0.0, sb = 0.0, swb = 0.0
            for i in users.indices {
                let u = draw(i)
                sa += wa[u] * ma[u]; sw += wa[u]
                sb += wb[u] * mb[u]; swb += wb[u]
            }
            return sb / swb - sa / sw
        }
        var rng = SeededRandom(seed: seed)
        let n = users.count
        var draws = (0..<resamples).map { _ in delta { _ in Int.random(in: 0..<n, using: &rng) } }
        draws.sort()
        let tail = (1 - confidence) / 2
        return PairedDifference(mean: delta { $0 }, low: quantile(draws, tail), high: quantile(draws, 1 - tail),
                                users: n, resamples: resamples, confidence: confidence)
    }

    /// The `p` quantile of ascending `sorted`, interpolated linearly between order statistics
    /// (position `p · (count − 1)`; Hyndman & Fan type 7).
    public static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty && p >= 0 && p <= 1, "quantile: p = \(p) of \(sorted.count) values")
        let position = p * Double(sorted.count - 1)
        let lower = Int(position), fraction = position - Double(lower)
        return lower + 1 < sorted.count ? sorted[lower] + fraction * (sorted[lower + 1] - sorted[lower]) : sorted[lower]
    }
}
