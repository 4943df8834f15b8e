import Foundation

/// Streaming estimates of how often each item appears in a training batch, for the logQ
/// correction (Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
/// Recommendations", RecSys 2019, Algorithm 2, with one slot per catalogue row instead of hashing).
///
/// ```
/// on step t, for each distinct item y of the batch:
///   δ[y] ← (1 − α) δ[y] + α (t − A[y])          A[y] ← t
/// Q(y) = 1 / δ[y]      δ: the moving average of the steps between two sightings of y
/// ```
/// `Q(y)` estimates the probability that `y` is in a batch; a constant factor between items does
/// not matter to the softmax (it shifts every logit of a row equally). An item not seen yet has
/// `δ = initialGap`.
public struct ItemFrequencyEstimator: Sendable {
    /// `α`, the moving average's weight on the newest gap.
    public let rate: Double
    /// `A`: the last step each item was seen (0: never).
    private var lastSeen: [Int]
    /// `δ`: the estimated steps between sightings.
    private var gap: [Double]
    /// Steps seen so far (`t` of the last update).
    public private(set) var step = 0

    /// An estimator for `items` catalogue rows.
    public init(items: Int, rate: Double = 0.05, initialGap: Double = 100) {
        precondition(items >= 1 && rate > 0 && rate <= 1 && initialGap >= 1,
                     "ItemFrequencyEstimator: items \(items), rate \(rate), initialGap \(initialGap)")
        self.rate = rate
        lastSeen = [Int](repeating: 0, count: items)
        gap = [Double](repeating: initialGap, count: items)
    }

    /// Records one batch (step `t + 1`); an item repeated within the batch counts once.
    public mutating func observe(_ batch: [Int32]) {
        step += 1
        for id in batch {
            let y = Int(id)
            precondition(y >= 0 && y < gap.count, "ItemFrequencyEstimator: id \(y) outside \(gap.count) items")
            guard lastSeen[y] != step else { continue }
            if lastSeen[y] > 0 { gap[y] = (1 - rate) * gap[y] + rate * Double(step - lastSeen[y]) }
            lastSeen[y] = step
        }
    }

    /// `Q(y) = 1/δ[y]`.
    public func probability(_ id: Int32) -> Double { 1 / gap[Int(id)] }

    /// `log Q(y)` as the loss takes it.
    public func logProbability(_ id: Int32) -> Float { Float(-log(gap[Int(id)])) }
}
