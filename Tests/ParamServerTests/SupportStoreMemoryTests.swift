#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

/// Memory per user (issue 21, Build 4): the task bound, blocks that grow with their rows, the
/// byte bound, and what they cost.
@Suite struct SupportStoreMemoryTests {
    func row(_ store: SupportStore, _ value: Float) -> (features: [Float], labels: [Float]) {
        ([Float](repeating: value, count: store.config.rowWidth), [Float](repeating: -value, count: store.config.labelWidth))
    }

    func append(_ store: SupportStore, _ task: UInt64, _ seq: Int) {
        let r = row(store, rowValue(task: task, sequence: seq))
        appendRow(store, task: task, features: r.features, labels: r.labels)
    }

    /// The resident set of this process in bytes (`VmRSS` of /proc/self/status), nil elsewhere.
    static func residentBytes() -> Int? {
        guard let f = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let s = String(cString: line)
            if s.hasPrefix("VmRSS:") {
                let kb = s.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
                return kb.map { $0 * 1024 }
            }
        }
        return nil
    }

    @Test func `two hundred thousand one-event users stay within ten thousand tasks`() throws {
        // W = 256 so that keeping every user (no eviction) would take ≈ 230 MB even with
        // one-row blocks, far above the RSS bound below; with eviction the store holds ≈ 11 MB.
        let clock = ManualClock(start: .seconds(1_000_000))
        let store = try SupportStore(config: .init(rowWidth: 256, labelWidth: 2, capacity: 64, expiry: .timeToLive(.seconds(2_592_000)),
                                                   keepFloor: 4, memoryBound: .tasks(10_000)), clock: clock)
        let rssBefore = Self.residentBytes()
        let batch = 500, w = 256
        let features = [Float](repeating: 0.5, count: batch * w), labels = [Float](repeating: 1, count: batch * 2)
        let times = [Timestamp](repeating: .zero, count: batch)
        var tasks = [UInt64](repeating: 0, count: batch)
        for b in 0..<(200_000 / batch) {
            for i in 0..<batch { tasks[i] = UInt64(b * batch + i) &* 0x9E37_79B9_7F4A_7C15 }
            tasks.withUnsafeBufferPointer { t in
                features.withUnsafeBufferPointer { f in
                    labels.withUnsafeBufferPointer { l in
                        times.withUnsafeBufferPointer { store.append(tasks: t, features: f, labels: l, timestamps: $0) }
                    }
                }
            }
            clock.advance(by: .seconds(1))
            #expect(store.count <= 10_000)
        }
        let rssAfter = Self.residentBytes()
        let stats = store.statistics
        #expect(stats.tasks == 10_000 && store.count == 10_000)
        #expect(stats.tasksEvicted == 190_000)
        #expect(stats.rows == 10_000)
        #expect(stats.taskBytes == 10_000 * store.taskBytes(rows: 1))
        #expect(stats.bytesPerTask == Double(store.taskBytes(rows: 1)))
        // Heap held (blocks, entry tables, index, expiry queue): the charged bytes plus table slack.
        #expect(stats.bytes <= 2 * stats.taskBytes, "heap \(stats.bytes) B for \(stats.taskBytes) B charged")
        // The newest users survived (LRU); the first were evicted.
        #expect(pullSupport(store, task: UInt64(199_999) &* 0x9E37_79B9_7F4A_7C15).count == 1)
        #expect(pullSupport(store, task: 0).count == 0)
        #if os(Linux)
        #expect(rssBefore != nil && rssAfter != nil, "VmRSS not found in /proc/self/status")
        #endif
        if let rssBefore, let rssAfter {
            let growth = rssAfter - rssBefore
            print("200k one-event users, 10k-task bound: charged \(stats.taskBytes) B (\(store.taskBytes(rows: 1)) B a user), "
                  + "heap \(stats.bytes) B, RSS growth \(growth) B (\(rssBefore) → \(rssAfter))")
            // Generous (other tests run in this process meanwhile): keeping all 200 000 users
            // would need ≈ 230 MB, full blocks ≈ 13 GB.
            #expect(growth < 128 << 20, "RSS grew by \(growth) bytes")
        }
    }

    @Test(arguments: [(4, 1), (16, 2), (128, 2), (1024, 4)])
    func `a one-row task costs at most an eighth of a full block`(rowWidth: Int, labelWidth: Int) throws {
        let config = SupportStoreConfig(rowWidth: rowWidth, labelWidth: labelWidth, capacity: 64, expiry: .timeToLive(.seconds(3_600)))
        let one = try SupportStore(config: config), full = try SupportStore(config: config)
        // ≤ 8 MB of full blocks a case: the cases run in parallel with the RSS check above.
        let tasks = min(4_096, (8 << 20) / one.taskBytes(rows: 64))
        let emptyHeap = one.statistics.bytes
        for t in 0..<tasks { append(one, UInt64(t), 0) }
        for t in 0..<tasks { for i in 0..<64 { append(full, UInt64(t), i) } }
        // Charged bytes (the bound's measure), and the heap each store holds per task, measured
        // from its tables' capacities and its blocks (index, entry table, free list, expiry
        // queue included).
        let charged = (one: one.taskBytes(rows: 1), full: one.taskBytes(rows: 64))
        let heap = (one: Double(one.statistics.bytes - emptyHeap) / Double(tasks), full: Double(full.statistics.bytes - emptyHeap) / Double(tasks))
        print("W = \(rowWidth), L = \(labelWidth), S_max = 64: one-row task \(charged.one) B charged, \(heap.one) B heap; "
              + "full block \(charged.full) B charged, \(heap.full) B heap; ratio \(heap.one / heap.full)")
        #expect(charged.one * 8 <= charged.full)
        #expect(heap.one * 8 <= heap.full)
        #expect(one.statistics.taskBytes == tasks * charged.one && full.statistics.taskBytes == tasks * charged.full)
    }

    @Test(arguments: [1, 4, 5, 64])
    func `a task's block grows with its rows and serves the same rows`(capacity: Int) throws {
        let store = try SupportStore(config: .init(rowWidth: 3, labelWidth: 2, capacity: capacity, shardCount: 2))
        for n in 1...(2 * capacity + 3) {
            append(store, 7, n - 1)
            let (count, f, l) = pullSupport(store, task: 7)
            let kept = (max(0, n - capacity)..<n).map { rowValue(task: 7, sequence: $0) }
            #expect(count == kept.count)
            #expect(f == kept.flatMap { [$0, $0, $0] } && l == kept.flatMap { [-$0, -$0] })
            #expect(store.statistics.taskBytes == store.taskBytes(rows: min(n, capacity)))
        }
        #expect(store.taskBytes(rows: 1) <= store.taskBytes(rows: capacity))
    }

    @Test func `a sweep shrinks a block the TTL emptied down to its keep floor`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try SupportStore(config: .init(rowWidth: 8, labelWidth: 1, capacity: 64, expiry: .timeToLive(.seconds(60)),
                                                   keepFloor: 2), clock: clock)
        for i in 0..<64 { append(store, 3, i) }
        #expect(store.statistics.taskBytes == store.taskBytes(rows: 64))
        clock.advance(by: .seconds(120))
        let report = store.sweep()
        #expect(report.rowsReclaimed == 62 && report.entriesReclaimed == 0)
        #expect(store.statistics.taskBytes == store.taskBytes(rows: 2))
        let (n, f, _) = pullSupport(store, task: 3)
        #expect(n == 2 && f.first == rowValue(task: 3, sequence: 62))
        #expect(store.bytesInUse.load(ordering: .relaxed) == store.statistics.taskBytes)
    }

    @Test func `the task bound evicts in least-recently-used order across shards`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try SupportStore(config: .init(rowWidth: 2, labelWidth: 1, capacity: 8, memoryBound: .tasks(50), shardCount: 8),
                                     clock: clock)
        for t in 0..<60 { append(store, UInt64(t), 0); clock.advance(by: .seconds(1)) }
        // 0–9 were evicted in order; now refresh 10–19 (pull counts as use) and add 20 more.
        for t in 10..<20 { _ = pullSupport(store, task: UInt64(t)); clock.advance(by: .seconds(1)) }
        for t in 100..<120 { append(store, UInt64(t), 0); clock.advance(by: .seconds(1)) }
        let alive = Set((0..<120).filter { pullSupport(store, task: UInt64($0)).count > 0 })
        #expect(alive == Set(Array(10..<20) + Array(40..<60) + Array(100..<120)))
        #expect(store.statistics.tasksEvicted == 30)
    }

    @Test func `the byte bound holds after every append, growth included, and evicts least recently used`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let probe = try SupportStore(config: .init(rowWidth: 16, labelWidth: 2, capacity: 64))
        let limit = 40 * probe.taskBytes(rows: 64)
        let store = try SupportStore(config: .init(rowWidth: 16, labelWidth: 2, capacity: 64, memoryBound: .bytes(limit), shardCount: 8),
                                     clock: clock)
        var rng = SplitMix(seed: 7)
        var sequence: [UInt64: Int] = [:]
        for _ in 0..<20_000 {
            let t = rng.next() % 400
            append(store, t, sequence[t, default: 0])
            sequence[t, default: 0] += 1
            clock.advance(by: .milliseconds(10))
            #expect(store.bytesInUse.load(ordering: .relaxed) <= limit)
        }
        let stats = store.statistics
        #expect(stats.taskBytes <= limit && stats.tasksEvicted > 0)
        // The charged bytes are exactly each surviving task's class cost.
        var charged = 0
        for t: UInt64 in 0..<400 {
            let n = pullSupport(store, task: t).count
            if n > 0 { charged += store.taskBytes(rows: n) }
        }
        #expect(charged == stats.taskBytes && charged == store.bytesInUse.load(ordering: .relaxed))
        // A task that grows evicts the least recently used other task, never itself: room for
        // one full block and one one-row task, so task 3's move into the 64-row class evicts 1.
        let small = try SupportStore(config: .init(rowWidth: 16, labelWidth: 2, capacity: 64,
                                                   memoryBound: .bytes(probe.taskBytes(rows: 64) + 2 * probe.taskBytes(rows: 1) - 1)),
                                     clock: clock)
        append(small, 1, 0); clock.advance(by: .seconds(1))
        append(small, 2, 0); clock.advance(by: .seconds(1))
        for i in 0..<32 { append(small, 3, i); clock.advance(by: .seconds(1)) }
        #expect(small.count == 3 && small.statistics.tasksEvicted == 0)
        append(small, 3, 32)
        #expect(pullSupport(small, task: 3).count == 33)
        #expect(pullSupport(small, task: 1).count == 0 && pullSupport(small, task: 2).count == 1)
        #expect(small.statistics.tasksEvicted == 1)
    }

    @Test func `references of evicted tasks do not pile up in the expiry queue`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try SupportStore(config: .init(rowWidth: 2, labelWidth: 1, capacity: 4, expiry: .timeToLive(.seconds(86_400)),
                                                   memoryBound: .tasks(100), shardCount: 4), clock: clock)
        for t in 0..<100_000 { append(store, UInt64(t), 0) }
        let references = store.shards.reduce(0) { sum, shard in sum + shard.withLock { $0.wheel.referenceCount } }
        #expect(store.count == 100)
        // Compaction keeps at most twice what survived the last one, and at least 4096 a shard.
        #expect(references <= 4 * 4_097, "\(references) expiry references for 100 tasks")
    }

    @Test func `concurrent writers keep the task and byte accounting exact`() async throws {
        let clock = ManualClock(start: .seconds(1_000))
        let probe = try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 16))
        let limit = 60 * probe.taskBytes(rows: 16)
        let store = try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 16, expiry: .timeToLive(.seconds(5)),
                                                   memoryBound: MemoryBound(tasks: 200, bytes: limit), shardCount: 4), clock: clock)
        let workers = 4
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<workers {
                group.addTask {
                    for i in 0..<2_000 {
                        if w == 0 && i % 50 == 0 { clock.advance(by: .seconds(1)); store.sweep() }
                        // Half the appends go to 50 returning users (their blocks grow), half to new ones.
                        let task = i % 2 == 0 ? UInt64(i % 50) : UInt64(1_000 + i * workers + w)
                        appendRow(store, task: task, features: [1, 2, 3, 4], labels: [1])
                        if i % 7 == 0 { _ = pullSupport(store, task: UInt64(i % 50)) }
                    }
                }
            }
        }
        store.sweep()
        let stats = store.statistics
        #expect(stats.tasks == store.count && stats.tasks <= 200)
        #expect(stats.taskBytes == store.bytesInUse.load(ordering: .relaxed) && stats.taskBytes <= limit)
        #expect(stats.rows == store.rowsInUse.load(ordering: .relaxed))
        #expect(stats.tasksEvicted > 0)
    }

    @Test func `invalid bounds are errors naming the limit`() {
        for bound in [MemoryBound.tasks(0), .bytes(-1), .rows(0), MemoryBound(tasks: 1 << 60)] {
            #expect(throws: ParamServerError.self) { try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 4, memoryBound: bound)) }
        }
        let error = #expect(throws: ParamServerError.self) {
            try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 4, memoryBound: .tasks(0)))
        }
        #expect(error?.description == "invalid parameter-server configuration: memoryBound: tasks(0) is not in 1...\(1 << 50)")
    }
}

/// A seeded generator for test workloads.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mixKey(state)
    }
}
