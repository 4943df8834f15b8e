/// How much variant B re-orders each user's rows relative to variant A: the evidence that an
/// adaptation changes *orders* and not only a per-user offset (which leaves τ = 1 and every
/// top-K unchanged).
///
/// ```
/// τ_u     = Kendall's τ-b between A's and B's scores over user u's rows
///         = (concordant − discordant) / √((n₀ − t_A)(n₀ − t_B))      n₀ = n(n−1)/2, t = tied pairs
/// changed = the users whose top-K set (by score, ties by row order) differs between A and B
/// ```
/// A user is compared only when both files hold the same rows for them (same count, same labels
/// in the same order, as `eval-cold`'s base and fine-tuned files do); others are counted apart.
public struct OrderChange: Sendable, Equatable {
    public var task: String
    /// Mean `τ_u` over the compared users with a defined τ (at least one untied pair each way).
    public var meanKendallTau: Double
    /// Users compared.
    public var users: Int
    /// Compared users whose top-`k` set changed.
    public var topKChanged: Int
    public var k: Int
    /// Users in both files whose rows do not line up.
    public var unaligned: Int

    /// One ``OrderChange`` per task present in both.
    public static func compare(a: ScoredRows, b: ScoredRows, k: Int = 5) -> [OrderChange] {
        precondition(k >= 1, "OrderChange: k must be >= 1, got \(k)")
        return a.tasks.filter { b.tasks.contains($0) }.map { task in
            let usersA = a.users(task: task), usersB = b.users(task: task)
            var tauSum = 0.0, tauCount = 0, users = 0, changed = 0, unaligned = 0
            for (user, rowsA) in usersA {
                guard let rowsB = usersB[user] else { continue }
                guard rowsA.labels.count == rowsB.labels.count,
                      zip(rowsA.labels, rowsB.labels).allSatisfy({ $0 == $1 || ($0.isNaN && $1.isNaN) }) else {
                    unaligned += 1
                    continue
                }
                users += 1
                if let tau = kendallTau(rowsA.scores, rowsB.scores) { tauSum += tau; tauCount += 1 }
                if topK(rowsA.scores, k) != topK(rowsB.scores, k) { changed += 1 }
            }
            return OrderChange(task: task, meanKendallTau: tauCount > 0 ? tauSum / Double(tauCount) : .nan, users: users,
                               topKChanged: changed, k: k, unaligned: unaligned)
        }
    }

    /// Kendall's τ-b of two score lists (nil when either is constant); O(n²), n is one user's rows.
    public static func kendallTau(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "kendallTau: \(x.count) vs \(y.count) values")
        var concordant = 0.0, discordant = 0.0, tiesX = 0.0, tiesY = 0.0, pairs = 0.0
        for i in x.indices {
            for j in (i + 1)..<x.count {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                pairs += 1
                if dx == 0 { tiesX += 1 }
                if dy == 0 { tiesY += 1 }
                if dx * dy > 0 { concordant += 1 } else if dx * dy < 0 { discordant += 1 }
            }
        }
        let denominator = ((pairs - tiesX) * (pairs - tiesY)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : nil
    }

    /// The indices of the `k` highest scores (ties: the earlier row first).
    static func topK(_ scores: [Double], _ k: Int) -> Set<Int> {
        Set(scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(k))
    }
}
