#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

@Suite struct SnapshotTests {
    func temporaryDirectory() -> String {
        var template = Array("/tmp/paramserver-test-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func fileBytes(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    func writeBytes(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func makeTable(dimension: Int = 5, optimizer: RowOptimizer = .adagrad(learningRate: 0.1, initialAccumulator: 0.1, epsilon: 1e-8),
                   clock: ManualClock) throws -> EmbeddingStore {
        try EmbeddingStore(config: .init(dimension: dimension, shardCount: 4, initializer: .uniform(bound: 1, seed: 3),
                                         expiry: .timeToLive(.seconds(100)), optimizer: optimizer), clock: clock)
    }

    @Test func `an embedding table round-trips rows, state and touch times`() throws {
        let dir = temporaryDirectory(), path = dir + "/emb.snap"
        let clock = ManualClock(start: .seconds(10_000))
        let table = try makeTable(clock: clock)
        let keys = (0..<3_000).map { UInt64($0) &* 0x1234_5678_9ABC }
        _ = pullRows(table, keys, create: true)
        pushGradients(table, Array(keys.prefix(100)), [Float](repeating: 0.3, count: 500))
        clock.advance(by: .seconds(60))
        _ = pullRows(table, Array(keys.suffix(10)), create: true)    // touched later
        try table.snapshot(to: path)
        let restored = try makeTable(clock: clock)
        try restored.restore(from: path)
        #expect(restored.rowCount == keys.count)
        #expect(pullRows(restored, keys, create: false) == pullRows(table, keys, create: false))
        // Optimiser state survived: the same push gives the same row.
        pushGradients(table, [keys[0]], [1, 2, 3, 4, 5])
        pushGradients(restored, [keys[0]], [1, 2, 3, 4, 5])
        #expect(pullRows(restored, [keys[0]], create: false) == pullRows(table, [keys[0]], create: false))
        // Touch times survived (reads are touches, so use a copy nobody read): after 50 s more
        // only the 10 later-touched rows remain.
        let untouched = try makeTable(clock: clock)
        try untouched.restore(from: path)
        clock.advance(by: .seconds(50))
        #expect(untouched.sweep().entriesReclaimed == keys.count - 10)
        #expect(untouched.rowCount == 10)
    }

    @Test func `a support store round-trips tasks, rows and LRU order`() throws {
        let dir = temporaryDirectory(), path = dir + "/support.snap"
        let clock = ManualClock(start: .seconds(10_000))
        let config = SupportStoreConfig(rowWidth: 6, labelWidth: 2, capacity: 5, expiry: .timeToLive(.seconds(1_000)),
                                        memoryBound: .none, modelVersion: 4, shardCount: 2)
        let store = try SupportStore(config: config, clock: clock)
        for t in 0..<50 {
            for i in 0..<(t % 8 + 1) {
                let v = rowValue(task: UInt64(t), sequence: i)
                appendRow(store, task: UInt64(t), features: [Float](repeating: v, count: 6), labels: [v, 1], at: .seconds(Int64(i)))
            }
            clock.advance(by: .seconds(1))
        }
        try store.snapshot(to: path)
        let restored = try SupportStore(config: config, clock: clock)
        try restored.restore(from: path)
        #expect(restored.count == 50)
        #expect(restored.statistics.rows == store.statistics.rows)
        for t in 0..<50 {
            let a = pullSupport(store, task: UInt64(t)), b = pullSupport(restored, task: UInt64(t))
            #expect(a.count == b.count && a.features == b.features && a.labels == b.labels)
        }
        // A bounded store restoring it evicts the least recently used tasks first.
        var bounded = config
        bounded.memoryBound = .tasks(10)
        let small = try SupportStore(config: bounded, clock: clock)
        try small.restore(from: path)
        #expect(small.count == 10)
        #expect(pullSupport(small, task: 49).count > 0)
        #expect(pullSupport(small, task: 0).count == 0)
    }

    /// A support snapshot written by the fixed-block layout (commit 169acb5): W = 2, L = 1,
    /// S_max = 4, version 3; task 11 got rows 0–5 (its ring wrapped), 12 row 0, 13 rows 0–2, a row
    /// `i` of task `t` being `([v, −v], [v / 2])` with `v = 100t + i` and event time `i` s.
    static let fixedBlockSnapshot = [
        "4d525053534e4150010000000200000002000000000000000100000000000000040000000000000003000000000000000000",
        "0000000000007dfd570b71e37fb168010000030000000b000000000000000002abfee9000000040000000000000000c08944",
        "00c089c400c00944009435770000000000a4da4be9000000030000000000000000e0894400e089c400e00944005ed0b20000",
        "0000006e7587e9000000030000000000000000008a4400008ac400000a4400286bee00000000003810c3e900000003000000",
        "0000000000208a4400208ac400200a4400f2052a010000000002abfee900000003000000000000000d00000000000000002a",
        "16edea00000003000000000000000080a2440080a2c40080224400000000000000000096e075ea0000000300000000000000",
        "00a0a24400a0a2c400a0224400ca9a3b0000000000607bb1ea000000030000000000000000c0a24400c0a2c400c022440094",
        "357700000000002a16edea00000003000000000000000c0000000000000000cc453aea000000010000000000000000009644",
        "000096c400001644000000000000000000cc453aea00000003000000000000006bf9ae905f42b74300000000000000000300",
        "000000000000b1da86f614660834",
    ].joined()

    @Test func `a support snapshot written before size classes restores into them, and is written back the same`() throws {
        let dir = temporaryDirectory(), path = dir + "/old.snap"
        let hex = Array(Self.fixedBlockSnapshot.utf8)
        let bytes = (0..<hex.count / 2).map { UInt8(String(decoding: hex[2 * $0..<2 * $0 + 2], as: UTF8.self), radix: 16)! }
        writeBytes(bytes, to: path)
        let store = try SupportStore(config: .init(rowWidth: 2, labelWidth: 1, capacity: 4, modelVersion: 3, shardCount: 2))
        try store.restore(from: path)
        try store.snapshot(to: dir + "/again.snap")   // before the pulls, which are uses
        #expect(fileBytes(dir + "/again.snap") == bytes)
        for (task, rows) in [(11, 6), (12, 1), (13, 3)] {
            let kept = (max(0, rows - 4)..<rows).map { Float(task * 100 + $0) }
            let (n, f, l) = pullSupport(store, task: UInt64(task))
            #expect(n == kept.count && f == kept.flatMap { [$0, -$0] } && l == kept.map { $0 / 2 })
        }
        #expect(store.statistics.taskBytes == store.taskBytes(rows: 4) + store.taskBytes(rows: 1) + store.taskBytes(rows: 3))
    }

    @Test func `truncation at any point is a clear error and leaves the table unchanged`() throws {
        let dir = temporaryDirectory(), path = dir + "/emb.snap", cut = dir + "/cut.snap"
        let clock = ManualClock(start: .seconds(10_000))
        let table = try makeTable(clock: clock)
        _ = pullRows(table, (0..<400).map { UInt64($0) }, create: true)
        try table.snapshot(to: path)
        let bytes = fileBytes(path)
        let target = try makeTable(clock: clock)
        _ = pullRows(target, [999_999], create: true)
        for length in [0, 7, 20, 63, 64, 70, bytes.count / 2, bytes.count - 25, bytes.count - 1] {
            writeBytes(Array(bytes.prefix(length)), to: cut)
            #expect {
                try target.restore(from: cut)
            } throws: { error in
                guard let e = error as? ParamServerError else { return false }
                if case .truncatedSnapshot = e { return true }
                return false
            }
            #expect(target.rowCount == 1)
        }
    }

    @Test func `a flipped bit anywhere is detected`() throws {
        let dir = temporaryDirectory(), path = dir + "/s.snap", bad = dir + "/bad.snap"
        let store = try SupportStore(config: .init(rowWidth: 3, labelWidth: 1, capacity: 4, shardCount: 2))
        for t in 0..<20 { appendRow(store, task: UInt64(t), features: [1, 2, 3], labels: [1]) }
        try store.snapshot(to: path)
        let bytes = fileBytes(path)
        var state: UInt64 = 5
        for _ in 0..<60 {
            state = mixKey(state)
            let bit = Int(state % UInt64(bytes.count * 8))
            var flipped = bytes
            flipped[bit / 8] ^= UInt8(1 << (bit % 8))
            writeBytes(flipped, to: bad)
            let target = try SupportStore(config: store.config)
            #expect(throws: ParamServerError.self) { try target.restore(from: bad) }
            #expect(target.count == 0)
        }
    }

    @Test func `a snapshot of another shape or kind is refused with a message`() throws {
        let dir = temporaryDirectory(), path = dir + "/emb.snap"
        let clock = ManualClock(start: .seconds(10_000))
        let table = try makeTable(clock: clock)
        _ = pullRows(table, [1, 2, 3], create: true)
        try table.snapshot(to: path)
        let wide = try makeTable(dimension: 8, clock: clock)
        do {
            try wide.restore(from: path)
            Issue.record("restore should have failed")
        } catch {
            #expect(error.description.contains("dimension 5; this table has 8"))
        }
        let sgd = try makeTable(optimizer: .sgd(learningRate: 0.1), clock: clock)
        #expect(throws: ParamServerError.self) { try sgd.restore(from: path) }
        let store = try SupportStore(config: .init(rowWidth: 5, labelWidth: 1, capacity: 4))
        #expect(throws: ParamServerError.snapshotMismatch(path: path, reason: "it is an embedding-table snapshot, not a support-store one")) {
            try store.restore(from: path)
        }
        #expect(throws: ParamServerError.self) { try store.restore(from: dir + "/missing.snap") }
    }

    @Test func `a failed write leaves the previous snapshot in place`() throws {
        let dir = temporaryDirectory(), path = dir + "/emb.snap"
        let clock = ManualClock(start: .seconds(10_000))
        let table = try makeTable(clock: clock)
        _ = pullRows(table, [1, 2, 3], create: true)
        try table.snapshot(to: path)
        let before = fileBytes(path)
        // Writing into a directory that does not exist fails before touching `path`.
        #expect(throws: ParamServerError.self) { try table.snapshot(to: dir + "/nope/emb.snap") }
        _ = pullRows(table, [4], create: true)
        try table.snapshot(to: path)
        #expect(fileBytes(path) != before)
        // No temporary files are left behind.
        let entries = directoryEntries(dir)
        #expect(entries == ["emb.snap"])
    }

}
