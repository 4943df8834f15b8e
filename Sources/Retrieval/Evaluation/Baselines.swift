import Foundation

/// The non-learned baselines, fitted on the histories of the cases they rank (for the test
/// split: every user's training and validation items; never a target). Where a user has several
/// cases (TF Lite's protocol), a case's own target may sit in the history of the same user's
/// later cases: co-occurrence skips the case's own user's other cases, and frequencies count a
/// user once, so a target can raise its own count by at most one.
public enum Baselines {
    /// The `k` most frequent items not in each case's history (frequency = users one of whose
    /// cases' histories holds the item; ties by the lower index).
    public static func popularity(_ cases: [NextItemSplit.Case], items: Int, k: Int) -> [[Int32]] {
        let counts = userCounts(cases, items: items)
        let order = (0..<items).sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }.map { Int32($0) }
        return cases.map { c in
            let seen = Set(c.history)
            return Array(order.lazy.filter { !seen.contains($0) }.prefix(k))
        }
    }

    /// Item-item co-occurrence over users, damped by popularity:
    ///
    /// ```
    /// C[i, j] = |{v : user(v) ≠ user(u), i ∈ H_v, j ∈ H_v}|        n_i = |{users with i in a history}|
    /// score_u(j) = Σ_{i ∈ H_u} C[i, j] / (n_i · n_j)^α        α = 0: raw counts, ½: cosine
    /// ```
    /// computed per user through the overlaps `o_v = Σ_{i ∈ H_u ∩ H_v} n_i^{−α}`, so that
    /// `score_u(j) = n_j^{−α} Σ_{v ∋ j} o_v` (no `N × N` matrix). The top `k` items outside `H_u`.
    /// - Complexity: `O(Σ_v |H_v|)` per case.
    public static func coOccurrence(_ cases: [NextItemSplit.Case], items: Int, k: Int, damping alpha: Double) -> [[Int32]] {
        let counts = userCounts(cases, items: items)
        let weight = counts.map { $0 > 0 ? pow(Double($0), -alpha) : 0 }
        var inHistory = [Int](repeating: -1, count: items)
        var score = [Float](repeating: 0, count: items)
        var heapScores = [Float](repeating: 0, count: k), heapIDs = [Int32](repeating: 0, count: k)
        return cases.enumerated().map { (u, c) in
            for i in c.history { inHistory[Int(i)] = u }
            for j in 0..<items { score[j] = 0 }
            for (v, other) in cases.enumerated() where v != u && other.user != c.user {
                var overlap = 0.0
                for i in other.history where inHistory[Int(i)] == u { overlap += weight[Int(i)] }
                guard overlap > 0 else { continue }
                for j in other.history { score[Int(j)] += Float(overlap) }
            }
            return heapScores.withUnsafeMutableBufferPointer { hs in
                heapIDs.withUnsafeMutableBufferPointer { hi in
                    var heap = TopKSelection(scores: hs.baseAddress!, ids: hi.baseAddress!, k: k)
                    for j in 0..<items where inHistory[j] != u && score[j] > 0 { heap.offer(score[j] * Float(weight[j]), Int32(j)) }
                    return Array(hi.prefix(heap.finish()))
                }
            }
        }
    }

    /// `n_i`: how many users have item `i` in one of their cases' histories (a repeat counts once).
    static func userCounts(_ cases: [NextItemSplit.Case], items: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: items), last = [Int](repeating: -1, count: items)
        for c in cases {
            for i in c.history where last[Int(i)] != c.user {
                last[Int(i)] = c.user
                counts[Int(i)] += 1
            }
        }
        return counts
    }
}
