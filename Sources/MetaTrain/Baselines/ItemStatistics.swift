/// Non-personalised baselines from per-item training statistics: the same order for every
/// user, whatever their support set.
///
/// ```
/// popularity(i) = n_i                                   training ratings of item i (0 if unseen)
/// itemMean(i)   = (Σ_u r_ui + m·μ) / (n_i + m)          shrunk toward the global mean μ with prior count m
///               = μ                                      for an item unseen in training
/// ```
/// The shrinkage is the posterior mean of the item's rating under a prior worth `m` ratings at
/// μ: an item rated once 5.0 does not outrank one rated 4.6 by a hundred users.
public struct ItemStatistics: Sendable {
    /// Training ratings per item `n_i`, `(I)`.
    public let counts: [Int]
    /// Sum of the training ratings per item, `(I)`.
    public let sums: [Double]
    /// Global mean μ.
    public let globalMean: Double
    let itemIndex: [String: Int]

    /// Counts and sums every observation of `data`.
    /// - Complexity: O(N).
    public init(_ data: RatingMatrix) {
        var counts = [Int](repeating: 0, count: data.itemCount)
        var sums = [Double](repeating: 0, count: data.itemCount)
        for e in data.entries {
            counts[Int(e.item)] += 1
            sums[Int(e.item)] += e.rating
        }
        self.counts = counts
        self.sums = sums
        globalMean = data.globalMean
        itemIndex = data.itemIndex
    }

    /// `n_i`, 0 for an item unseen in training.
    public func popularity(_ item: String) -> Double {
        itemIndex[item].map { Double(counts[$0]) } ?? 0
    }

    /// `(Σ r + m·μ) / (n + m)`, μ for an item unseen in training.
    /// - Parameter priorCount: `m ≥ 0` (0 = the raw mean; then an unseen item still gets μ).
    public func shrunkMean(_ item: String, priorCount m: Double) -> Double {
        precondition(m >= 0, "ItemStatistics: prior count \(m) must be ≥ 0")
        guard let i = itemIndex[item], counts[i] > 0 || m > 0 else { return globalMean }
        return (sums[i] + m * globalMean) / (Double(counts[i]) + m)
    }
}
