import Foundation
import MetaTrain
import TensorCore
import Testing

/// Naive references: AUC over all (positive, negative) pairs; nDCG and recall from each row's
/// rank counted directly (the pessimistic tie rule: among equal scores the lower label first).
enum NaiveRanking {
    /// P(score⁺ > score⁻) + ½ P(score⁺ = score⁻) over all pairs.
    static func auc(_ labels: [Double], _ scores: [Double]) -> Double? {
        var wins = 0.0, pairs = 0.0
        for i in labels.indices where labels[i] >= 0.5 {
            for j in labels.indices where labels[j] < 0.5 {
                pairs += 1
                wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0
            }
        }
        return pairs > 0 ? wins / pairs : nil
    }

    /// Rank of row i (1-based): rows with a higher score, plus rows with the same score and a
    /// lower label (they are shown first), plus 1 — the worst place among its equals.
    static func ranks(_ labels: [Double], _ scores: [Double]) -> [Int] {
        labels.indices.map { i in
            1 + labels.indices.count { j in
                j != i && (scores[j] > scores[i] || (scores[j] == scores[i] && (labels[j] < labels[i] || (labels[j] == labels[i] && j < i))))
            }
        }
    }

    static func ndcg(_ labels: [Double], _ scores: [Double], k: Int, graded: Bool) -> Double? {
        func gain(_ r: Double) -> Double { graded ? pow(2, r) - 1 : r }
        let rank = ranks(labels, scores)
        var dcg = 0.0
        for i in labels.indices where rank[i] <= k { dcg += gain(labels[i]) / log2(Double(rank[i]) + 1) }
        var idcg = 0.0
        for (i, r) in labels.sorted(by: >).enumerated() where i < k { idcg += gain(r) / log2(Double(i) + 2) }
        return idcg > 0 ? dcg / idcg : nil
    }

    static func recall(_ labels: [Double], _ scores: [Double], k: Int) -> Double? {
        let relevant = labels.count { $0 >= 0.5 }
        guard relevant > 0 else { return nil }
        let rank = ranks(labels, scores)
        return Double(labels.indices.count { labels[$0] >= 0.5 && rank[$0] <= k }) / Double(min(k, relevant))
    }
}

@Suite struct PerUserMetricsTests {
    @Test func `AUC by hand: one inversion of four pairs, a tie counts one half`() {
        // positives 0.9, 0.4; negatives 0.5, 0.1 → pairs won: (0.9,0.5) (0.9,0.1) (0.4,0.1) = 3 of 4.
        #expect(RankingMetrics.auc(labels: [1, 0, 1, 0], scores: [0.9, 0.5, 0.4, 0.1]) == 0.75)
        // A tie between a positive and a negative: 1 + 0.5 of 2 pairs.
        #expect(RankingMetrics.auc(labels: [1, 0, 0], scores: [0.5, 0.5, 0.1]) == 0.75)
        #expect(RankingMetrics.auc(labels: [1, 1], scores: [0.5, 0.1]) == nil)
        #expect(RankingMetrics.auc(labels: [0], scores: [0.5]) == nil)
    }

    @Test func `nDCG by hand, binary and graded gains`() throws {
        // Binary: relevant rows at ranks 2 and 3 of 4; ideal at ranks 1 and 2.
        let binary = try #require(RankingMetrics.ndcg(labels: [0, 1, 1, 0], scores: [4, 3, 2, 1], k: 10, scale: .binary))
        let expected = (1 / log2(3.0) + 1 / log2(4.0)) / (1 + 1 / log2(3.0))
        #expect(abs(binary - expected) < 1e-12)
        // Graded, K = 2: shown order ratings 3, 5, 1 → DCG = 7 + 31/log2 3; ideal 31 + 7/log2 3.
        let graded = try #require(RankingMetrics.ndcg(labels: [3, 5, 1], scores: [0.9, 0.8, 0.7], k: 2, scale: .graded))
        #expect(abs(graded - (7 + 31 / log2(3.0)) / (31 + 7 / log2(3.0))) < 1e-12)
        // A perfect order scores 1; nothing relevant is undefined.
        #expect(RankingMetrics.ndcg(labels: [5, 3, 1], scores: [3, 2, 1], k: 2, scale: .graded) == 1)
        #expect(RankingMetrics.ndcg(labels: [0, 0], scores: [1, 2], k: 5, scale: .binary) == nil)
        #expect(RankingMetrics.ndcg(labels: [0, 0], scores: [1, 2], k: 5, scale: .graded) == nil, "2^0 − 1 = 0")
    }

    @Test func `ties rank pessimistically, whatever the input order`() {
        // All scores equal: the relevant row is placed last, so the constant scorer earns the minimum.
        for labels: [Double] in [[1, 0, 0], [0, 1, 0], [0, 0, 1]] {
            let ndcg = RankingMetrics.ndcg(labels: labels, scores: [0.5, 0.5, 0.5], k: 3, scale: .binary)
            #expect(ndcg == 1 / log2(4.0))
            #expect(RankingMetrics.recall(labels: labels, scores: [0.5, 0.5, 0.5], k: 2) == 0)
        }
    }

    @Test func `recall by hand, normalised by min(K, relevant)`() {
        // 3 relevant; top 2 = rows 0, 1 (one relevant) → 1 / min(2, 3).
        #expect(RankingMetrics.recall(labels: [1, 0, 1, 1], scores: [4, 3, 2, 1], k: 2) == 0.5)
        // A perfect order scores 1 even with more relevant rows than K.
        #expect(RankingMetrics.recall(labels: [1, 1, 1, 0], scores: [4, 3, 2, 1], k: 2) == 1)
        #expect(RankingMetrics.recall(labels: [1, 0, 1, 1], scores: [4, 3, 2, 1], k: 10) == 1)
        #expect(RankingMetrics.recall(labels: [0, 0], scores: [1, 2], k: 1) == nil)
    }

    @Test(arguments: [1, 2, 3, 4, 5])
    func `metrics match the naive references on random lists with ties`(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        for n in [1, 2, 3, 7, 20] {
            // Coarse scores (ties) and labels from a small set.
            let scores = (0..<n).map { _ in Double(Int.random(in: 0..<4, using: &rng)) / 4 }
            let binary = (0..<n).map { _ in Double(Int.random(in: 0...1, using: &rng)) }
            let grades = (0..<n).map { _ in Double(Int.random(in: 0...5, using: &rng)) / 2 }
            let auc = RankingMetrics.auc(labels: binary, scores: scores), naiveAUC = NaiveRanking.auc(binary, scores)
            #expect((auc == nil) == (naiveAUC == nil))
            if let auc, let naiveAUC { #expect(abs(auc - naiveAUC) < 1e-12) }
            for k in [1, 3, 10] {
                for (labels, scale) in [(binary, LabelScale.binary), (grades, .graded)] {
                    let v = RankingMetrics.ndcg(labels: labels, scores: scores, k: k, scale: scale)
                    let naive = NaiveRanking.ndcg(labels, scores, k: k, graded: scale == .graded)
                    #expect((v == nil) == (naive == nil), "n \(n) k \(k)")
                    if let v, let naive { #expect(abs(v - naive) < 1e-12, "n \(n) k \(k): \(v) vs \(naive)") }
                }
                #expect(RankingMetrics.recall(labels: binary, scores: scores, k: k) == NaiveRanking.recall(binary, scores, k: k))
            }
        }
    }

    @Test func `binary and graded gains agree on 0-1 labels`() {
        let labels: [Double] = [1, 0, 1, 0, 0, 1], scores: [Double] = [0.3, 0.9, 0.1, 0.5, 0.5, 0.7]
        #expect(RankingMetrics.ndcg(labels: labels, scores: scores, k: 4, scale: .binary)
                == RankingMetrics.ndcg(labels: labels, scores: scores, k: 4, scale: .graded))
    }

    @Test func `the scale of a file's labels is inferred: 0-1 only is binary`() {
        #expect(LabelScale(inferredFrom: [0, 1, 1, 0]) == .binary)
        #expect(LabelScale(inferredFrom: [1, 4.5, 3]) == .graded)
        #expect(LabelScale.binary.metrics(ks: [5, 10]).map(\.description) == ["gauc", "ndcg@5", "ndcg@10", "recall@5", "recall@10"])
        #expect(LabelScale.graded.metrics(ks: [3]).map(\.description) == ["ndcg@3"])
    }
}

/// Users with random rows: labels planted from a per-user signal, scores = signal + noise.
enum PlantedUsers {
    static func make(users: Int, seed: UInt64, graded: Bool = false) -> [String: UserRows] {
        var rng = SeededRandom(seed: seed)
        var out: [String: UserRows] = [:]
        for u in 0..<users {
            let n = Int.random(in: 1...12, using: &rng)
            var rows = UserRows()
            for _ in 0..<n {
                let x = Double.random(in: -1...1, using: &rng)
                let label = graded ? Double(Int.random(in: 0...2, using: &rng)) + (x > 0 ? 2 : 0)
                                   : (x + Double.random(in: -0.7...0.7, using: &rng) > 0 ? 1 : 0)
                rows.append(label: label, score: x + Double.random(in: -0.5...0.5, using: &rng))
            }
            out["u\(u)"] = rows
        }
        return out
    }
}

@Suite struct PerUserValuesTests {
    @Test func `GAUC is the row-weighted mean of users' AUC, one-class users skipped`() {
        let users: [String: UserRows] = [
            "a": UserRows(labels: [1, 0], scores: [0.9, 0.1]),               // AUC 1, 2 rows
            "b": UserRows(labels: [1, 0, 0, 1], scores: [0.1, 0.9, 0.8, 0.2]), // AUC 0, 4 rows
            "c": UserRows(labels: [1, 1, 1], scores: [0.1, 0.2, 0.3]),       // one class: skipped
        ]
        let gauc = PerUserValues(metric: .gauc, users: users, scale: .binary)
        #expect(gauc.users == 2 && gauc.skipped == 1)
        #expect(abs(gauc.mean - (2 * 1 + 4 * 0) / 6.0) < 1e-12)
        let ndcg = PerUserValues(metric: .ndcg(k: 5), users: users, scale: .binary)
        #expect(ndcg.users == 3 && ndcg.skipped == 0)
        #expect(abs(ndcg.mean - ndcg.values.values.reduce(0, +) / 3) < 1e-12, "unweighted")
    }

    @Test(arguments: [1, 2, 3])
    func `permuting a user's rows or the users changes nothing`(seed: UInt64) {
        let users = PlantedUsers.make(users: 40, seed: seed)
        var rng = SeededRandom(seed: seed + 100)
        var shuffled: [String: UserRows] = [:]
        for (user, rows) in users {
            let order = Array(rows.labels.indices).shuffled(using: &rng)
            shuffled[user] = UserRows(labels: order.map { rows.labels[$0] }, scores: order.map { rows.scores[$0] })
        }
        for metric in LabelScale.binary.metrics(ks: [1, 3, 5]) {
            let a = PerUserValues(metric: metric, users: users, scale: .binary)
            let b = PerUserValues(metric: metric, users: shuffled, scale: .binary)
            #expect(a.users == b.users && a.skipped == b.skipped)
            for (user, v) in a.values { #expect(abs(v - b.values[user]!) < 1e-12, "\(metric) \(user)") }
        }
    }

    @Test(arguments: [1, 2, 3])
    func `a per-user score offset leaves per-user metrics unchanged but moves global AUC`(seed: UInt64) {
        func shifted(_ users: [String: UserRows], seed: UInt64) -> [String: UserRows] {
            var rng = SeededRandom(seed: seed)
            var out: [String: UserRows] = [:]
            for user in users.keys.sorted() {
                let offset = Double.random(in: -3...3, using: &rng)
                out[user] = UserRows(labels: users[user]!.labels, scores: users[user]!.scores.map { $0 + offset })
            }
            return out
        }
        for scale in [LabelScale.binary, .graded] {
            let users = PlantedUsers.make(users: 60, seed: seed, graded: scale == .graded)
            let moved = shifted(users, seed: seed + 7)
            for metric in scale.metrics(ks: [3, 10]) {
                let a = PerUserValues(metric: metric, users: users, scale: scale)
                let b = PerUserValues(metric: metric, users: moved, scale: scale)
                #expect(a.users > 30 && a.users == b.users)
                #expect(abs(a.mean - b.mean) < 1e-12, "\(metric): \(a.mean) vs \(b.mean)")
            }
            guard scale == .binary else { continue }
            // Global AUC over all rows does move.
            func global(_ u: [String: UserRows]) -> Double {
                let keys = u.keys.sorted()
                return RankingMetrics.auc(labels: keys.flatMap { u[$0]!.labels }, scores: keys.flatMap { u[$0]!.scores })!
            }
            #expect(abs(global(users) - global(moved)) > 0.01, "global AUC \(global(users)) vs \(global(moved))")
        }
    }
}
