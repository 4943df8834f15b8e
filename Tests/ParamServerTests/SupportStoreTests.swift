import Testing
@testable import ParamServer

@Suite struct SupportStoreTests {
    func makeStore(
        capacity: Int = 4, expiry: Expiry = .none, keepFloor: Int = 0, bound: MemoryBound = .none, shards: Int = 4,
        clock: ManualClock = ManualClock(start: .seconds(1_000))
    ) throws -> SupportStore {
        try SupportStore(config: .init(rowWidth: 3, labelWidth: 2, capacity: capacity, expiry: expiry, keepFloor: keepFloor,
                                       memoryBound: bound, modelVersion: 1, shardCount: shards), clock: clock)
    }

    func append(_ store: SupportStore, _ task: UInt64, _ seq: Int) {
        let v = rowValue(task: task, sequence: seq)
        appendRow(store, task: task, features: [v, v, v], labels: [v, -v])
    }

    @Test(arguments: [1, 3, 4, 9])
    func `pull returns the newest rows oldest first, across the ring's wrap`(rows: Int) throws {
        let store = try makeStore()
        for i in 0..<rows { append(store, 5, i) }
        let (n, f, l) = pullSupport(store, task: 5)
        let kept = (max(0, rows - 4)..<rows).map { rowValue(task: 5, sequence: $0) }
        #expect(n == kept.count)
        #expect(f == kept.flatMap { [$0, $0, $0] })
        #expect(l == kept.flatMap { [$0, -$0] })
        #expect(pullSupport(store, task: 6).count == 0)
        #expect(store.statistics.rows == min(rows, 4))
    }

    @Test func `a row is served at TTL minus epsilon and not at TTL plus epsilon`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try makeStore(expiry: .timeToLive(.seconds(60)), clock: clock)
        append(store, 1, 0)
        clock.advance(by: .seconds(30))
        append(store, 1, 1)
        clock.advance(by: .seconds(30) - .nanoseconds(1))
        #expect(pullSupport(store, task: 1).count == 2)
        clock.advance(by: .nanoseconds(2))
        let (n, f, _) = pullSupport(store, task: 1)
        #expect(n == 1)
        #expect(f == [Float](repeating: rowValue(task: 1, sequence: 1), count: 3))
        clock.advance(by: .seconds(30))
        #expect(pullSupport(store, task: 1).count == 0)
        let report = store.sweep()
        #expect(report.entriesReclaimed == 1 && report.rowsReclaimed == 2)
        #expect(store.count == 0)
    }

    @Test func `the keep floor keeps a task's newest rows past the TTL`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try makeStore(expiry: .timeToLive(.seconds(10)), keepFloor: 2, clock: clock)
        for i in 0..<4 { append(store, 3, i) }
        append(store, 4, 0)
        clock.advance(by: .seconds(100))
        let report = store.sweep()
        #expect(report.entriesReclaimed == 0 && report.rowsReclaimed == 2)
        let (n, f, _) = pullSupport(store, task: 3)
        #expect(n == 2)
        #expect(f.first == rowValue(task: 3, sequence: 2))
        #expect(pullSupport(store, task: 4).count == 1)
        #expect(store.statistics.rows == 3)
    }

    @Test func `the memory bound evicts the least recently used task first`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try makeStore(bound: .tasks(3), clock: clock)
        for task: UInt64 in [1, 2, 3] { append(store, task, 0); clock.advance(by: .seconds(1)) }
        _ = pullSupport(store, task: 1)      // 1 is now the most recently used
        clock.advance(by: .seconds(1))
        append(store, 4, 0)
        #expect(store.count == 3)
        #expect(pullSupport(store, task: 2).count == 0)
        for task: UInt64 in [1, 3, 4] { #expect(pullSupport(store, task: task).count == 1) }
        #expect(store.statistics.tasksEvicted == 1)
        let byRows = try makeStore(bound: .rows(5), clock: clock)
        for i in 0..<3 { append(byRows, 1, i); clock.advance(by: .seconds(1)) }
        for i in 0..<3 { append(byRows, 2, i); clock.advance(by: .seconds(1)) }
        #expect(byRows.statistics.rows == 3)
        #expect(pullSupport(byRows, task: 1).count == 0)
    }

    @Test func `rows of another model version read as expired and are reclaimed`() throws {
        let store = try makeStore()
        for i in 0..<3 { append(store, 8, i) }
        append(store, 9, 0)
        store.setModelVersion(2)
        #expect(pullSupport(store, task: 8).count == 0)
        append(store, 8, 3)
        let (n, f, _) = pullSupport(store, task: 8)
        #expect(n == 1 && f.first == rowValue(task: 8, sequence: 3))
        let report = store.sweep()
        #expect(report.entriesReclaimed == 1 && report.rowsReclaimed == 4)
        #expect(store.count == 1 && store.statistics.rows == 1)
        store.setModelVersion(1)
        #expect(pullSupport(store, task: 8).count == 0)
    }

    @Test func `reclaim visits only expired tasks, whatever the number of live tasks`() throws {
        var visits: [Int] = []
        for live in [10, 5_000] {
            let clock = ManualClock(start: .seconds(1_000))
            let store = try makeStore(expiry: .timeToLive(.seconds(100)), clock: clock)
            for t in 0..<200 { append(store, UInt64(t), 0) }
            clock.advance(by: .seconds(60))
            for t in 0..<live { append(store, UInt64(10_000 + t), 0) }
            clock.advance(by: .seconds(60))
            let report = store.sweep()
            #expect(report.entriesReclaimed == 200)
            #expect(store.count == live)
            visits.append(report.entriesVisited)
        }
        #expect(visits == [200, 200])
    }

    @Test func `batched append equals appending one by one`() throws {
        let a = try makeStore(), b = try makeStore()
        let tasks: [UInt64] = [1, 2, 1, 3, 1, 1, 1, 2]
        var features: [Float] = [], labels: [Float] = []
        for (i, t) in tasks.enumerated() {
            let v = rowValue(task: t, sequence: i)
            features += [v, v, v]
            labels += [v, -v]
            append(a, t, i)
        }
        let times = [Timestamp](repeating: .zero, count: tasks.count)
        tasks.withUnsafeBufferPointer { tb in
            features.withUnsafeBufferPointer { fb in
                labels.withUnsafeBufferPointer { lb in
                    times.withUnsafeBufferPointer { b.append(tasks: tb, features: fb, labels: lb, timestamps: $0) }
                }
            }
        }
        for t: UInt64 in [1, 2, 3] {
            let x = pullSupport(a, task: t), y = pullSupport(b, task: t)
            #expect(x.count == y.count && x.features == y.features && x.labels == y.labels)
        }
    }

    @Test func `invalid configurations are errors, not traps`() {
        #expect(throws: ParamServerError.self) { try SupportStore(config: .init(rowWidth: 0, labelWidth: 1, capacity: 4)) }
        #expect(throws: ParamServerError.self) { try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 4, keepFloor: 5)) }
        #expect(throws: ParamServerError.self) {
            try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 4, memoryBound: .bytes(0)))
        }
    }
}
