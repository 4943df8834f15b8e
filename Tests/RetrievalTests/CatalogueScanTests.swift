import Testing
import Retrieval
import TensorCore
import TestSupport

/// The naive reference: every exact fp32 score (the fma chain over j = 0 ..< d), a full sort by
/// (score desc, id asc), exclusions, NaN and −∞ dropped, the first k.
enum ScanReference {
    static func score(_ items: Tensor, _ i: Int, _ q: [Float]) -> Float {
        let d = items.shape[1]
        var acc: Float = 0
        for j in 0..<d { acc = acc.addingProduct(q[j], items.scalars[i * d + j]) }
        return acc
    }

    static func topK(_ items: Tensor, _ q: [Float], k: Int, excluded: Set<Int32> = []) -> [(id: Int32, score: Float)] {
        let all = (0..<items.shape[0]).filter { !excluded.contains(Int32($0)) }.map { (id: Int32($0), score: score(items, $0, q)) }
        let ranked = all.filter { $0.score > -.infinity }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
        return Array(ranked.prefix(k))
    }
}

@Suite struct CatalogueScanTests {
    static let precisions: [CatalogueScan.Precision] = [.float32, .int8]

    static func expectEqual(_ scan: CatalogueScan, _ expected: [(id: Int32, score: Float)], _ note: String) {
        #expect(scan.results.map(\.id) == expected.map(\.id), "\(note): ids")
        #expect(scan.results.map(\.score) == expected.map(\.score), "\(note): scores (bit for bit)")
    }

    @Test(arguments: [(1, 1), (15, 3), (17, 64), (1000, 64), (4099, 16), (130, 5)], [1, 10, 100])
    func `ids and scores equal a full sort at every level and precision`(shape: (Int, Int), k: Int) {
        let (n, d) = shape
        let items = randomTensor([n, d], seed: UInt64(n * 31 + d)), q = randomTensor([d], seed: 77)
        let excluded: [Int32] = [0, Int32(n / 2), Int32(n - 1), -5, Int32(n + 3)]
        let expected = ScanReference.topK(items, q.scalars, k: k, excluded: Set(excluded))
        for precision in Self.precisions {
            for level in SIMDLevel.available {
                var scan = CatalogueScan(items: items, precision: precision, level: level)
                scan.search(query: q, k: k, excluding: excluded)
                Self.expectEqual(scan, expected, "\(precision) \(level) n \(n) d \(d) k \(k)")
                #expect(!scan.fellBack)
            }
        }
    }

    @Test func `k above N returns every item not excluded, sorted`() {
        let items = randomTensor([37, 8], seed: 3), q = randomTensor([8], seed: 4)
        for precision in Self.precisions {
            var scan = CatalogueScan(items: items, precision: precision)
            scan.search(query: q, k: 100, excluding: [Int32(5)])
            #expect(scan.count == 36)
            Self.expectEqual(scan, ScanReference.topK(items, q.scalars, k: 100, excluded: [5]), "\(precision)")
            scan.search(query: q, k: 0, excluding: [Int32]())
            #expect(scan.count == 0)
            scan.search(query: q, k: 3, excluding: (0..<37).map { Int32($0) })
            #expect(scan.count == 0)
        }
    }

    /// Duplicates and rows one ulp apart: many exact ties and near ties around the k-th score.
    @Test func `near ties and exact ties follow the reference (ties to the lower id)`() {
        let base = randomTensor([40, 64], seed: 9).scalars
        var rows: [Float] = []
        for i in 0..<2000 {
            var row = Array(base[(i % 40) * 64 ..< (i % 40 + 1) * 64])
            if i % 3 == 1 { row[i % 64] = row[i % 64].nextUp }
            if i % 3 == 2 { row[(i * 7) % 64] = row[(i * 7) % 64].nextDown }
            rows += row
        }
        let items = Tensor(shape: [2000, 64], scalars: rows), q = randomTensor([64], seed: 10)
        for k in [1, 50, 100, 250] {
            let expected = ScanReference.topK(items, q.scalars, k: k)
            for precision in Self.precisions {
                var scan = CatalogueScan(items: items, precision: precision)
                scan.search(query: q, k: k, excluding: [Int32]())
                Self.expectEqual(scan, expected, "\(precision) k \(k)")
            }
        }
    }

    @Test func `thousands of equal scores overflow the candidates and fall back, still exact`() {
        let items = Tensor(shape: [10_000, 4], repeating: 0.5), q = Tensor(shape: [4], repeating: 1)
        var scan = CatalogueScan(items: items, precision: .int8)
        scan.search(query: q, k: 10, excluding: [Int32(2)])
        #expect(scan.fellBack)
        Self.expectEqual(scan, ScanReference.topK(items, q.scalars, k: 10, excluded: [2]), "all equal")
        #expect(scan.results.map(\.id) == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10])
    }

    /// Scores rising with the id: every item beats the running threshold, so more than the
    /// candidate buffer's 4 096 items enter it; stale ones are compacted away and the scan goes
    /// on (no fallback), still exact.
    @Test(arguments: [CatalogueScan.Precision.int8, .float32])
    func `rising scores overflow the candidate buffer, which compacts and carries on, still exact`(precision: CatalogueScan.Precision) {
        let n = 10_000, d = 8
        let noise = randomTensor([n, d], seed: 21).scalars
        let items = Tensor(shape: [n, d], scalars: (0..<(n * d)).map { e in
            e % d == 0 ? 1 + Float(e / d) / Float(n) : 1e-3 * noise[e]
        })
        let q = Tensor(shape: [d], scalars: [1] + Array(repeating: 0, count: d - 1))
        var scan = CatalogueScan(items: items, precision: precision)
        scan.search(query: q, k: 10, excluding: [Int32(n - 1)])
        #expect(!scan.fellBack, "compaction, not the fallback")
        Self.expectEqual(scan, ScanReference.topK(items, q.scalars, k: 10, excluded: [Int32(n - 1)]), "\(precision)")
    }

    /// Rows of norm ~1e15 among rows of norm ~1 (the bound is proven there), then ~1e36 (outside
    /// it: the scan scores everything exactly) and a query of norm 1e-20.
    @Test func `huge and tiny norms stay exact`() {
        var v = randomTensor([3000, 32], seed: 12).scalars
        for i in stride(from: 0, to: 3000, by: 7) { for j in 0..<32 { v[i * 32 + j] *= 1e15 } }
        let items = Tensor(shape: [3000, 32], scalars: v)
        let q = randomTensor([32], seed: 13)
        var scan = CatalogueScan(items: items, precision: .int8)
        scan.search(query: q, k: 100, excluding: [Int32]())
        Self.expectEqual(scan, ScanReference.topK(items, q.scalars, k: 100), "1e15 rows")
        #expect(!scan.fellBack)
        let tiny = Tensor(shape: [32], scalars: q.scalars.map { $0 * 1e-20 })
        scan.search(query: tiny, k: 100, excluding: [Int32]())
        Self.expectEqual(scan, ScanReference.topK(items, tiny.scalars, k: 100), "tiny query")
        #expect(scan.fellBack, "a query norm below the bound's proven range scores every item exactly")
        var w = v
        for j in 0..<32 { w[5 * 32 + j] = 1e36 * Float(j % 3 == 0 ? 1 : -1) }
        let huge = Tensor(shape: [3000, 32], scalars: w)
        var hugeScan = CatalogueScan(items: huge, precision: .int8)
        hugeScan.search(query: q, k: 100, excluding: [Int32]())
        #expect(hugeScan.fellBack)
        Self.expectEqual(hugeScan, ScanReference.topK(huge, q.scalars, k: 100), "1e36 row")
    }

    @Test func `a warm search allocates no new buffers`() {
        let items = randomTensor([5000, 16], seed: 14), q = randomTensor([16], seed: 15)
        var scan = CatalogueScan(items: items, precision: .int8)
        scan.search(query: q, k: 50, excluding: [Int32(1)])
        let first = scan.ids.withUnsafeBufferPointer { $0.baseAddress }
        let expected = scan.results.map(\.id)
        for _ in 0..<3 { scan.search(query: q, k: 50, excluding: [Int32(1)]) }
        #expect(scan.ids.withUnsafeBufferPointer { $0.baseAddress } == first)
        #expect(scan.results.map(\.id) == expected)
    }

    @Test func `a non-finite item is refused at load`() async {
        await #expect(processExitsWith: .failure) {
            _ = CatalogueScan(items: Tensor(rows: [[1, 2], [.nan, 0]]), precision: .int8)
        }
    }
}
