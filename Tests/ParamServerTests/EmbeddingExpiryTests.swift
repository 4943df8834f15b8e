#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

/// The FIFO page queue, lazy re-check, 16-bit touch offsets and memory accounting of
/// ``EmbeddingStore`` (README "Memory layout", "Reclaim cost").
@Suite struct EmbeddingExpiryTests {
    func makeTable(
        dimension: Int = 4, ttl: Duration = .seconds(60), optimizer: RowOptimizer = .sgd(learningRate: 0.5),
        shards: Int = 4, clock: ManualClock
    ) throws -> EmbeddingStore {
        try EmbeddingStore(config: .init(dimension: dimension, shardCount: shards, initializer: .uniform(bound: 0.5, seed: 3),
                                         expiry: .timeToLive(ttl), optimizer: optimizer), clock: clock)
    }

    @Test func `a row touched after its append is re-queued, not reclaimed, and expires later`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(shards: 1, clock: clock)
        let rows = pullRows(table, [1, 2], create: true)
        clock.advance(by: .seconds(50))
        _ = pullRows(table, [2], create: false)             // touch: row 2 now lives until +110
        clock.advance(by: .seconds(20))                     // +70: the page (appended at +0) is due
        let first = table.sweep()
        #expect(first.entriesReclaimed == 1 && first.entriesVisited == 2)
        #expect(table.statistics.rowsRequeued == 1)
        #expect(pullRows(table, [2], create: false) == Array(rows[4..<8]))   // intact after the move; touch at +70
        // Re-queued at +70, so its page is due at +130; touched at +70, it expires at +130.
        clock.advance(by: .seconds(59))
        #expect(table.sweep().entriesVisited == 0)
        #expect(pullRows(table, [2], create: false) == Array(rows[4..<8]))   // touch at +129
        clock.advance(by: .seconds(1))                      // +130: due; touched at +129 → re-queued again
        let second = table.sweep()
        #expect(second.entriesReclaimed == 0 && second.entriesVisited == 1)
        clock.advance(by: .seconds(60))                     // +190: untouched for 61 s
        #expect(pullRows(table, [2], create: false) == [0, 0, 0, 0])
        #expect(table.sweep().entriesReclaimed == 1)
        #expect(table.rowCount == 0)
    }

    @Test(arguments: [10, 25])
    func `a hot row is re-checked about once per TTL, whatever the sweep period`(period: Int) throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(shards: 1, clock: clock)
        _ = pullRows(table, [7], create: true)
        let duration = 600   // 10 TTLs
        var visited = 0
        for _ in 0..<(duration / period) {
            clock.advance(by: .seconds(period))
            _ = pullRows(table, [7], create: false)
            visited += table.sweep().entriesVisited
        }
        // Each re-queue puts the row in a page appended at that sweep, due a TTL (+ < 1 period) later.
        let requeued = table.statistics.rowsRequeued
        #expect(requeued == visited)
        #expect(requeued >= duration / (60 + period) - 1 && requeued <= duration / 60)
        #expect(table.rowCount == 1)
    }

    @Test func `touch offsets survive page rebases when no sweep runs for many TTLs`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(shards: 1, clock: clock)
        let rows = pullRows(table, [1, 2], create: true)
        // 20 hours in 30 s steps: the page's 16-bit offsets (65 535 ticks of 1 s) overflow and the
        // page is rebased; row 2 must stay served throughout, row 1 never comes back.
        for _ in 0..<2_400 {
            clock.advance(by: .seconds(30))
            #expect(pullRows(table, [2], create: false) == Array(rows[4..<8]))
        }
        #expect(pullRows(table, [1], create: false) == [0, 0, 0, 0])
        let report = table.sweep()
        #expect(report.entriesReclaimed == 1)
        #expect(table.rowCount == 1)
        #expect(pullRows(table, [2], create: false) == Array(rows[4..<8]))
    }

    @Test func `a one-day TTL keeps 16-bit touches by coarsening the tick to 6 s`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(ttl: .seconds(86_400), clock: clock)
        #expect(table.resolutionNanoseconds == 6_000_000_000)   // ⌈86 400 / 16 384⌉ = 6 ticks of 1 s
        let created = pullRows(table, [5], create: true)
        let touchedAt = clock.now()
        // Expires between ttl − 2·6 s and ttl: early, never late.
        clock.set(to: touchedAt + .seconds(86_400 - 13))
        #expect(pullRows(table, [5], create: false) == created)
        clock.set(to: clock.now() + .seconds(86_400) + .milliseconds(1))
        #expect(pullRows(table, [5], create: false) == [0, 0, 0, 0])
    }

    @Test func `restored rows are queued by touch time, so rows that expired meanwhile fall due at once`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(shards: 1, clock: clock)
        _ = pullRows(table, [1], create: true)
        clock.advance(by: .seconds(50))
        let live = pullRows(table, [2], create: true)
        var template = Array("/tmp/paramserver-expiry-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let path = dir + "/emb.snap"
        defer { unlink(path); rmdir(dir) }
        try table.snapshot(to: path)
        clock.advance(by: .seconds(50))                     // +100: row 1 expired at +60, row 2 lives until +110
        let restored = try makeTable(shards: 1, clock: clock)
        try restored.restore(from: path)
        let report = restored.sweep()
        #expect(report.entriesReclaimed == 1 && report.entriesVisited == 1)
        #expect(pullRows(restored, [2], create: false) == live)
    }

    @Test func `the index shrinks after mass expiry`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(shards: 1, clock: clock)
        _ = pullRows(table, (0..<20_000).map { UInt64($0) }, create: true)
        clock.advance(by: .seconds(30))
        _ = pullRows(table, (0..<1_000).map { UInt64(1_000_000 + $0) }, create: true)
        clock.advance(by: .seconds(40))
        #expect(table.sweep().entriesReclaimed == 20_000)
        let (count, capacity) = table.shards[0].withLock { ($0.index.count, $0.index.capacity) }
        #expect(count == 1_000)
        #expect(Double(count) / Double(capacity) >= 0.4)
        #expect(table.shards[0].withLock { shard in shard.index.isConsistent { shard.key($0) } })
        #expect(!pullRows(table, [1_000_000, 1_000_999], create: false).contains(0))
    }

    /// Memory accounting: the row and optimiser-state floats are exactly `rows × (d + s) × 4`;
    /// the overhead is at least the key (8), the touch offset (2) and an index bucket at the
    /// maximum load (4 / 0.9), and within the 25 % budget over the raw floats.
    @Test(arguments: [
        RowOptimizer.sgd(learningRate: 0.1),
        .adagrad(learningRate: 0.1, initialAccumulator: 0.1, epsilon: 1e-8),
    ])
    func `memory figures count payload exactly and overhead within budget`(optimizer: RowOptimizer) throws {
        let clock = ManualClock(start: .seconds(1_000))
        let d = 16, n = 100_000
        let table = try makeTable(dimension: d, ttl: .seconds(86_400), optimizer: optimizer, clock: clock)
        for chunk in stride(from: 0, to: n, by: 10_000) {
            _ = pullRows(table, (chunk..<(chunk + 10_000)).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }, create: true)
        }
        let s = table.statistics
        #expect(s.rows == n)
        #expect(s.rowBytes == n * d * 4)
        #expect(s.optimizerStateBytes == n * optimizer.stateWidth(dimension: d) * 4)
        let perRow = Double(s.overheadBytes) / Double(n)
        #expect(perRow >= 8 + 2 + 4 / SlotIndex.maximumLoad)
        #expect(s.overheadRatio <= 0.25, "overhead \(perRow) bytes a row")
    }
}
