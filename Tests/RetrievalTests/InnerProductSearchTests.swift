import Foundation
import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct InnerProductSearchTests {
    /// Every item scored in Double by a loop, sorted by (score desc, id asc), exclusions dropped.
    static func reference(items: Tensor, query: [Float], k: Int, excluded: Set<Int32>) -> [Int32] {
        let (n, d) = (items.shape[0], items.shape[1])
        let scored = (0..<n).filter { !excluded.contains(Int32($0)) }.map { i -> (Double, Int32) in
            var s = 0.0
            for j in 0..<d { s += Double(items.scalars[i * d + j]) * Double(query[j]) }
            return (s, Int32(i))
        }
        return scored.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }.prefix(k).map(\.1)
    }

    @Test(arguments: [(1, 1, 1), (37, 5, 8), (300, 16, 7), (1000, 7, 64)], [1, 10, 50])
    func `top-k matches the naive ranking across blocks with exclusions`(shape: (Int, Int, Int), k: Int) {
        let (n, queries, d) = shape
        let items = randomTensor([n, d], seed: 51), q = randomTensor([queries, d], seed: 52)
        let excluded: [[Int32]] = (0..<queries).map { qi in (0..<(qi % 4)).map { Int32(($0 * 13 + qi) % n) } }
        var search = InnerProductSearch(items: items, blockSize: 64)
        search.search(queries: q, k: k) { excluded[$0] }
        for qi in 0..<queries {
            let expected = Self.reference(items: items, query: q.row(qi), k: k, excluded: Set(excluded[qi]))
            #expect(search.results(of: qi).map(\.id) == expected, "query \(qi)")
            #expect(search.count(of: qi) == expected.count)
        }
    }

    @Test func `ties go to the lower id whatever the block order`() {
        let items = Tensor(rows: [[1, 0], [2, 0], [2, 0], [1, 0], [2, 0]])
        var search = InnerProductSearch(items: items, blockSize: 2)
        search.search(queries: Tensor(rows: [[1, 0]]), k: 4) { _ in [Int32]() }
        #expect(search.results(of: 0).map(\.id) == [1, 2, 4, 0])
        #expect(search.results(of: 0).map(\.score) == [2, 2, 2, 1])
    }

    @Test func `excluding everything but one item returns one result`() {
        let items = randomTensor([5, 3], seed: 53)
        var search = InnerProductSearch(items: items)
        search.search(queries: randomTensor([1, 3], seed: 54), k: 3) { _ in [Int32(0), 1, 3, 4, 99] }
        #expect(search.results(of: 0).map(\.id) == [2])
    }

    @Test func `a repeated search keeps its buffers (no reallocation after warm-up)`() {
        let items = randomTensor([500, 8], seed: 55)
        var search = InnerProductSearch(items: items, blockSize: 128)
        let q = randomTensor([4, 8], seed: 56)
        search.search(queries: q, k: 20) { _ in [Int32]() }
        let first = search.ids.withUnsafeBufferPointer { $0.baseAddress }
        let expected = search.results(of: 3)
        for _ in 0..<3 { search.search(queries: q, k: 20) { _ in [Int32]() } }
        #expect(search.ids.withUnsafeBufferPointer { $0.baseAddress } == first)
        #expect(search.results(of: 3).map(\.id) == expected.map(\.id))
    }
}

@Suite struct RetrievalMetricsTests {
    @Test func `recall and nDCG by hand`() {
        let relevant: Set<Int32> = [3, 9]
        let ranked: [Int32] = [5, 3, 7, 9]
        #expect(RetrievalMetrics.recall(ranked, relevant: relevant, k: 1) == 0)
        #expect(RetrievalMetrics.recall(ranked, relevant: relevant, k: 2) == 0.5)
        #expect(RetrievalMetrics.recall(ranked, relevant: relevant, k: 10) == 1)
        #expect(RetrievalMetrics.recall([3], relevant: relevant, k: 1) == 1)  // denominator min(K, |T|)
        let dcg = 1 / log2(3.0) + 1 / log2(5.0), ideal = 1 + 1 / log2(3.0)
        expectClose(RetrievalMetrics.ndcg(ranked, relevant: relevant, k: 4)!, dcg / ideal, rtol: 1e-12)
        #expect(RetrievalMetrics.ndcg(ranked, relevant: [], k: 4) == nil)
    }
}

@Suite struct BaselinesTests {
    static func cases(_ histories: [[Int32]]) -> [NextItemSplit.Case] {
        histories.enumerated().map { NextItemSplit.Case(user: $0, history: $1[...], targets: [0][...]) }
    }

    @Test func `popularity ranks by user counts and skips seen items`() {
        let c = Self.cases([[1, 2], [2, 3], [2, 3, 3], [4]])
        // counts: 2→3, 3→2, 1→1, 4→1, 0→0
        #expect(Baselines.popularity(c, items: 5, k: 3)[0] == [3, 4, 0])
        #expect(Baselines.popularity(c, items: 5, k: 2)[3] == [2, 3])
    }

    @Test func `co-occurrence counts other users' shared items`() {
        let c = Self.cases([[0, 1], [0, 2], [0, 2, 3], [1, 4], [5]])
        // user 0 (items 0, 1): C[0,2] = 2 (users 1, 2), C[0,3] = 1, C[1,4] = 1 → 2, then 3 and 4 tied (lower id first)
        #expect(Baselines.coOccurrence(c, items: 6, k: 5, damping: 0)[0] == [2, 3, 4])
        // with α = 1: 2: 2/(n0·n2) = 2/(3·2); 3: 1/(3·1); 4: 1/(n1·n4) = 1/(2·1) → 4, 3 = 2 (ties → lower id)
        #expect(Baselines.coOccurrence(c, items: 6, k: 5, damping: 1)[0] == [4, 2, 3])
        #expect(Baselines.coOccurrence(c, items: 6, k: 5, damping: 0)[4].isEmpty)
    }

    @Test func `a user's other cases do not co-occur with their own case`() {
        // User 7 has two cases (TF Lite's protocol): the later one's history holds the earlier
        // one's target 9. Co-occurrence for the first case must not learn 9 from it.
        let c = [NextItemSplit.Case(user: 7, history: [1, 2][...], targets: [9][...]),
                 NextItemSplit.Case(user: 7, history: [2, 9][...], targets: [3][...]),
                 NextItemSplit.Case(user: 8, history: [2, 4, 9][...], targets: [5][...]),
                 NextItemSplit.Case(user: 8, history: [9][...], targets: [6][...])]
        let ranked = Baselines.coOccurrence(c, items: 10, k: 5, damping: 0)[0]
        #expect(ranked == [4, 9], "from user 8 only: 4 and 9 each once (tie → lower id), \(ranked)")
    }
}
