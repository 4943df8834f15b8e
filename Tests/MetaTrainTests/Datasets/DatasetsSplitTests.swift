import Testing
@testable import MetaTrain

@Suite struct DatasetsSplitTests {
    @Test func `chronological split gives each user's latest fifth to test and the tenth before to validation`() {
        let split = ChronologicalSplit.standard
        #expect(split.counts(rows: 1) == (1, 0, 0))
        #expect(split.counts(rows: 2) == (2, 0, 0))
        #expect(split.counts(rows: 3) == (2, 0, 1))
        #expect(split.counts(rows: 5) == (3, 1, 1))
        #expect(split.counts(rows: 10) == (7, 1, 2))
        #expect(split.counts(rows: 100) == (70, 10, 20))
        for n in 1...50 {
            let ranks = (0..<n).map { split.split(rank: $0, of: n) }
            // Monotone: train, then validation, then test.
            #expect(ranks == ranks.sorted { $0.index < $1.index })
            let c = split.counts(rows: n)
            #expect(ranks.filter { $0 == .test }.count == c.test)
            #expect(ranks.filter { $0 == .validation }.count == c.validation)
        }
    }

    @Test func `invalid fractions throw`() {
        #expect(throws: DatasetError.self) { try ChronologicalSplit(validationFraction: 0.6, testFraction: 0.5) }
        #expect(throws: DatasetError.self) { try HashSplit(seed: 1, trainFraction: -0.1) }
    }

    @Test(arguments: [UInt64(1), 7, 123_456])
    func `hash split is stable and near 50-25-25`(seed: UInt64) throws {
        let a = try HashSplit(seed: seed)
        let b = try HashSplit(seed: seed)
        var counts: [DatasetSplit: Int] = [:]
        for row in 0..<40_000 {
            #expect(a.split(row: row) == b.split(row: row))
            counts[a.split(row: row), default: 0] += 1
        }
        #expect(abs(Double(counts[.train]!) / 40_000 - 0.5) < 0.01)
        #expect(abs(Double(counts[.validation]!) / 40_000 - 0.25) < 0.01)
        let other = try HashSplit(seed: seed + 1)
        #expect((0..<100).contains { a.split(row: $0) != other.split(row: $0) })
    }
}
