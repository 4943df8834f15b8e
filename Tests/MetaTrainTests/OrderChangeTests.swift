import MetaTrain
import Testing

@Suite struct OrderChangeTests {
    static func rows(_ users: [(String, [Double], [Double])]) -> ScoredRows {
        ScoredRows(rows: users.flatMap { user, labels, scores in
            zip(labels, scores).map { ScoredRows.Row(user: user, task: "rating", label: $0, score: $1) }
        })
    }

    @Test func `Kendall tau-b matches hand-computed values`() {
        #expect(OrderChange.kendallTau([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(OrderChange.kendallTau([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        // (1,2,3) vs (1,3,2): pairs (01 +, 02 +, 12 −) → (2 − 1)/3.
        #expect(abs(OrderChange.kendallTau([1, 2, 3], [1, 3, 2])! - 1.0 / 3) < 1e-12)
        // One tie in y: (1,2,3) vs (1,1,2): concordant 2, tied 1 → 2 / √(3·2).
        #expect(abs(OrderChange.kendallTau([1, 2, 3], [1, 1, 2])! - 2 / 6.0.squareRoot()) < 1e-12)
        #expect(OrderChange.kendallTau([1, 1, 1], [1, 2, 3]) == nil)
    }

    @Test func `a per-user offset changes no order and a swap does`() {
        let labels: [Double] = [5, 4, 3, 2, 1, 3, 4]
        let base: [Double] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
        let a = Self.rows([("u1", labels, base), ("u2", labels, base)])
        let offset = Self.rows([("u1", labels, base.map { $0 + 2 }), ("u2", labels, base.map { $0 - 1 })])
        let o = OrderChange.compare(a: a, b: offset, k: 5)[0]
        #expect(o.meanKendallTau == 1 && o.topKChanged == 0 && o.users == 2)
        var swapped = base
        swapped.swapAt(4, 6)   // the 5th and 7th rows trade places: top-5 changes for that user
        let b = Self.rows([("u1", labels, swapped), ("u2", labels, base)])
        let s = OrderChange.compare(a: a, b: b, k: 5)[0]
        #expect(s.topKChanged == 1)
        #expect(s.meanKendallTau < 1)
    }

    @Test func `users whose rows do not line up are counted apart`() {
        let a = Self.rows([("u1", [1, 2], [0.1, 0.2])])
        let b = Self.rows([("u1", [2, 1], [0.1, 0.2])])
        let o = OrderChange.compare(a: a, b: b)[0]
        #expect(o.users == 0 && o.unaligned == 1)
    }
}
