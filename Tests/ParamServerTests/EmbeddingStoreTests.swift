import Testing
@testable import ParamServer

@Suite struct EmbeddingStoreTests {
    func makeTable(
        dimension: Int = 4, initializer: RowInitializer = .uniform(bound: 0.5, seed: 9), admission: Admission = .always,
        expiry: Expiry = .none, optimizer: RowOptimizer = .sgd(learningRate: 0.5), shards: Int = 4,
        clock: ManualClock = ManualClock(start: .seconds(1_000))
    ) throws -> EmbeddingStore {
        try EmbeddingStore(config: .init(dimension: dimension, shardCount: shards, initializer: initializer,
                                         admission: admission, expiry: expiry, optimizer: optimizer), clock: clock)
    }

    @Test func `rows are created on first touch, deterministically from the key`() throws {
        let a = try makeTable(), b = try makeTable(shards: 1)
        let keys: [UInt64] = [42, 7, 1 << 63, 0]
        let rowsA = pullRows(a, keys, create: true)
        let rowsB = pullRows(b, keys.reversed(), create: true)
        #expect(a.rowCount == 4)
        for (i, j) in zip(0..<4, (0..<4).reversed()) {
            #expect(Array(rowsA[i * 4..<(i + 1) * 4]) == Array(rowsB[j * 4..<(j + 1) * 4]))
        }
        #expect(rowsA.allSatisfy { abs($0) <= 0.5 })
        #expect(Set(rowsA).count > 8)
        #expect(pullRows(a, keys, create: false) == rowsA)
    }

    @Test func `a pull without create reads zeros and stores nothing`() throws {
        let table = try makeTable()
        #expect(pullRows(table, [1, 2, 3], create: false) == [Float](repeating: 0, count: 12))
        #expect(table.rowCount == 0)
        pushGradients(table, [1], [1, 1, 1, 1])
        #expect(table.statistics.pushesDropped == 1)
    }

    @Test(arguments: [
        RowOptimizer.sgd(learningRate: 0.1),
        .adagrad(learningRate: 0.1, initialAccumulator: 0.1, epsilon: 1e-8),
        .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
    ])
    func `push applies the row optimiser like the reference`(optimizer: RowOptimizer) throws {
        let d = 3
        let table = try makeTable(dimension: d, initializer: .zeros, optimizer: optimizer)
        _ = pullRows(table, [5, 6], create: true)
        var w = [Float](repeating: 0, count: d), acc = [Float](repeating: 0, count: d)
        var m = [Float](repeating: 0, count: d), v = [Float](repeating: 0, count: d)
        if case let .adagrad(_, a0, _) = optimizer { acc = [Float](repeating: a0, count: d) }
        var p1: Float = 1, p2: Float = 1
        for step in 0..<3 {
            let g: [Float] = [0.5, -1, Float(step)]
            pushGradients(table, [5], g)
            for j in 0..<d {
                switch optimizer {
                case let .sgd(lr): w[j] -= lr * g[j]
                case let .adagrad(lr, _, eps): acc[j] += g[j] * g[j]; w[j] -= lr * g[j] / (acc[j].squareRoot() + eps)
                case let .adam(lr, b1, b2, eps):
                    if j == 0 { p1 *= b1; p2 *= b2 }
                    m[j] = b1 * m[j] + (1 - b1) * g[j]
                    v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                    w[j] -= lr * (m[j] / (1 - p1)) / ((v[j] / (1 - p2)).squareRoot() + eps)
                }
            }
        }
        let rows = pullRows(table, [5, 6], create: false)
        for j in 0..<d { #expect(abs(rows[j] - w[j]) < 1e-6) }
        #expect(Array(rows[d...]) == [Float](repeating: 0, count: d))
    }

    @Test func `a row is served at TTL minus epsilon and not at TTL plus epsilon`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(expiry: .timeToLive(.seconds(60)), clock: clock)
        let created = pullRows(table, [11], create: true)
        clock.advance(by: .seconds(59) + .milliseconds(999))
        #expect(pullRows(table, [11], create: false) == created)   // served, and the read is a touch
        let touchedAt = clock.now()
        clock.set(to: touchedAt + .seconds(60) + .milliseconds(1))
        #expect(pullRows(table, [11], create: false) == [0, 0, 0, 0])
        #expect(table.rowCount == 1)
        #expect(table.sweep().entriesReclaimed == 1)
        #expect(table.rowCount == 0)
    }

    @Test func `an untouched row expires; a touched one lives on`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let table = try makeTable(expiry: .timeToLive(.seconds(60)), clock: clock)
        _ = pullRows(table, [1, 2], create: true)
        for _ in 0..<5 {
            clock.advance(by: .seconds(30))
            pushGradients(table, [2], [1, 1, 1, 1])
        }
        let report = table.sweep()
        #expect(report.entriesReclaimed == 1)
        #expect(table.rowCount == 1)
        #expect(pullRows(table, [2], create: false) != [0, 0, 0, 0])
    }

    @Test func `frequency admission creates the row on the n-th sighting`() throws {
        let table = try makeTable(admission: .afterSightings(3))
        #expect(pullRows(table, [77], create: true) == [0, 0, 0, 0])
        #expect(pullRows(table, [77], create: false) == [0, 0, 0, 0])   // create: false is not a sighting
        #expect(pullRows(table, [77], create: true) == [0, 0, 0, 0])
        #expect(table.rowCount == 0)
        let row = pullRows(table, [77], create: true)
        #expect(row != [0, 0, 0, 0])
        #expect(table.rowCount == 1)
        #expect(table.statistics.admissionsDeferred == 2)
    }

    @Test func `reclaim visits only expired rows, whatever the number of live rows`() throws {
        var visits: [Int] = []
        for live in [100, 20_000] {
            let clock = ManualClock(start: .seconds(1_000))
            let table = try makeTable(expiry: .timeToLive(.seconds(100)), clock: clock)
            _ = pullRows(table, (0..<500).map { UInt64($0) }, create: true)
            clock.advance(by: .seconds(60))
            _ = pullRows(table, (0..<live).map { UInt64(1_000_000 + $0) }, create: true)
            clock.advance(by: .seconds(60))
            let report = table.sweep()
            #expect(report.entriesReclaimed == 500)
            #expect(table.rowCount == live)
            visits.append(report.entriesVisited)
            // Survivors are intact after the moves.
            let again = pullRows(table, [1_000_000, UInt64(1_000_000 + live - 1)], create: false)
            #expect(!again.contains(0))
        }
        // 500 queue references plus at most one re-check per removal (of the row moved into
        // the hole), for 100 or 20 000 live rows alike.
        #expect(visits.allSatisfy { $0 >= 500 && $0 <= 2 * 500 })
    }

    @Test func `invalid configurations are errors, not traps`() {
        #expect(throws: ParamServerError.self) { try EmbeddingStore(config: .init(dimension: 0)) }
        #expect(throws: ParamServerError.self) { try EmbeddingStore(config: .init(dimension: 4, shardCount: 3)) }
        #expect(throws: ParamServerError.self) { try EmbeddingStore(config: .init(dimension: 4, admission: .afterSightings(0))) }
        #expect(throws: ParamServerError.self) {
            try EmbeddingStore(config: .init(dimension: 4, optimizer: .sgd(learningRate: .nan)))
        }
    }
}
