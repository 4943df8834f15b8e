import Foundation
import ParamServer
import Testing

/// The Redis support store against the in-process one: the same append / pull / sweep /
/// version-change sequence under a manual clock must serve the same rows.
@Suite(.enabled(if: TestRedis.address != nil, "METAREC_REDIS_URL is unset: run `make test` (it starts redis-server on loopback)"))
struct RedisSupportStoreTests {
    static let (w, l, s) = (3, 2, 4)

    /// Both stores, fed the same calls.
    struct Pair {
        let clock = ManualClock(start: .seconds(1_000))
        let local: SupportStore
        let redis: RedisSupportStore

        init(expiry: Expiry, keepFloor: Int, precision: SupportPrecision = .float32) throws {
            // At bf16 the last column is a bit pattern (an item key), kept exactly by both stores.
            let config = SupportStoreConfig(rowWidth: w, labelWidth: l, capacity: s, expiry: expiry, keepFloor: keepFloor,
                                            modelVersion: 7, shardCount: 4, precision: precision,
                                            bitPatternColumns: precision == .float32 ? 0 : 1)
            local = try SupportStore(config: config, clock: clock)
            redis = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: TestRedis.prefix("contract"),
                                          timeoutSeconds: 1, clock: clock)
        }

        /// Appends rows `(task, value)`: features `value + 0.1·c`, labels `−value − c`, event time `value` s.
        func append(_ rows: [(UInt64, Float)]) throws {
            let tasks = rows.map(\.0)
            let features = rows.flatMap { r in (0..<w).map { r.1 + 0.1 * Float($0) } }
            let labels = rows.flatMap { r in (0..<l).map { -r.1 - Float($0) } }
            let times = rows.map { Timestamp.seconds(Int64($0.1)) }
            try tasks.withUnsafeBufferPointer { t in
                try features.withUnsafeBufferPointer { f in
                    try labels.withUnsafeBufferPointer { y in
                        try times.withUnsafeBufferPointer { ts in
                            local.append(tasks: t, features: f, labels: y, timestamps: ts)
                            try redis.append(tasks: t, features: f, labels: y, timestamps: ts)
                        }
                    }
                }
            }
        }

        /// Pulls `tasks` from both and expects the same rows, labels and event times.
        func expectSamePulls(_ tasks: [UInt64], _ note: String) throws {
            var f = [Float](repeating: 0, count: tasks.count * s * w), y = [Float](repeating: 0, count: tasks.count * s * l)
            var counts = [Int](repeating: -1, count: tasks.count)
            var times = [Timestamp](repeating: .zero, count: tasks.count * s)
            try RedisSupportStoreTests.pull(redis, tasks, &f, &y, &counts, &times)
            for (i, task) in tasks.enumerated() {
                var lf = [Float](repeating: 0, count: s * w), ly = [Float](repeating: 0, count: s * l)
                var lt = [Timestamp](repeating: .zero, count: s)
                let n = lf.withUnsafeMutableBufferPointer { fp in
                    ly.withUnsafeMutableBufferPointer { yp in
                        lt.withUnsafeMutableBufferPointer { tp in local.pull(task: task, features: fp, labels: yp, timestamps: tp) }
                    }
                }
                #expect(counts[i] == n, "\(note): task \(task) rows")
                #expect(Array(f[(i * s * w)..<(i * s * w + n * w)]).map(\.bitPattern) == Array(lf[..<(n * w)]).map(\.bitPattern),
                        "\(note): task \(task) features")
                #expect(Array(y[(i * s * l)..<(i * s * l + n * l)]) == Array(ly[..<(n * l)]), "\(note): task \(task) labels")
                #expect(Array(times[(i * s)..<(i * s + n)]) == Array(lt[..<n]), "\(note): task \(task) event times")
            }
        }
    }

    /// `store.pull` into the arrays, each borrowed for the whole call.
    static func pull(_ store: RedisSupportStore, _ tasks: [UInt64], _ f: inout [Float], _ y: inout [Float], _ counts: inout [Int],
                     _ times: inout [Timestamp]) throws {
        try tasks.withUnsafeBufferPointer { t in
            try f.withUnsafeMutableBufferPointer { fp in
                try y.withUnsafeMutableBufferPointer { yp in
                    try counts.withUnsafeMutableBufferPointer { cp in
                        try times.withUnsafeMutableBufferPointer { tp in
                            try store.pull(tasks: t, features: fp, labels: yp, counts: cp, timestamps: tp)
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [0, 2], SupportPrecision.allCases)
    func `the Redis store serves what the in-process store serves`(keepFloor: Int, precision: SupportPrecision) throws {
        let pair = try Pair(expiry: .timeToLive(.seconds(60)), keepFloor: keepFloor, precision: precision)
        try pair.append([(1, 1), (2, 2), (1, 3)])
        try pair.expectSamePulls([1, 2, 3], "first rows")
        try pair.append((4..<10).map { (1, Float($0)) })          // task 1 overflows S_max = 4
        try pair.expectSamePulls([1, 2], "after overflow")
        pair.clock.advance(by: .seconds(40))
        try pair.append([(2, 20), (3, 21)])
        pair.clock.advance(by: .seconds(30))                          // task 1's rows are 70 s old, task 2's first 70 s
        try pair.expectSamePulls([1, 2, 3], "after the TTL of the first rows")
        pair.local.sweep()
        pair.redis.sweep()
        try pair.expectSamePulls([3, 2, 1], "after a sweep")
        pair.local.setModelVersion(8)
        pair.redis.setModelVersion(8)
        try pair.expectSamePulls([1, 2, 3], "after a model-version change")
        try pair.append([(3, 30), (4, 31)])
        try pair.expectSamePulls([3, 4, 1], "rows of the new version")
    }

    @Test func `replicas at different precisions share rows: each row is read at the precision it was written`() throws {
        let prefix = TestRedis.prefix("mixed")
        func store(_ precision: SupportPrecision) throws -> RedisSupportStore {
            try RedisSupportStore(address: TestRedis.address!, config: .init(rowWidth: 3, labelWidth: 1, capacity: 8, precision: precision,
                                                                          bitPatternColumns: 1), keyPrefix: prefix)
        }
        let (f32, bf16) = (try store(.float32), try store(.bfloat16))
        let key = Float(bitPattern: 0x7FC0_0123)   // a NaN-looking bit pattern, kept exactly at both precisions
        let rows: [(RedisSupportStore, [Float])] = [(f32, [1.001, -3.14159, key]), (bf16, [1.001, -3.14159, key]), (f32, [0.1, 0.2, key])]
        for (i, (writer, features)) in rows.enumerated() {
            try [UInt64(9)].withUnsafeBufferPointer { t in
                try features.withUnsafeBufferPointer { f in
                    try [Float(i)].withUnsafeBufferPointer { y in
                        try [Timestamp.seconds(Int64(i))].withUnsafeBufferPointer { ts in
                            try writer.append(tasks: t, features: f, labels: y, timestamps: ts)
                        }
                    }
                }
            }
        }
        func rounded(_ v: Float) -> Float { BFloat16.widen(BFloat16.narrow(v)) }
        let want: [Float] = [1.001, -3.14159, key, rounded(1.001), rounded(-3.14159), key, 0.1, 0.2, key]
        for reader in [f32, bf16] {
            var f = [Float](repeating: 0, count: 24), y = [Float](repeating: 0, count: 8), n = [0]
            var times = [Timestamp](repeating: .zero, count: 8)
            try Self.pull(reader, [9], &f, &y, &n, &times)
            #expect(n == [3] && Array(f[..<9]).map(\.bitPattern) == want.map(\.bitPattern), "reader at \(reader.precision)")
            #expect(Array(y[..<3]) == [0, 1, 2] && Array(times[..<3]) == [.seconds(0), .seconds(1), .seconds(2)])
        }
    }

    @Test func `two stores on one Redis see each other's rows (two replicas of a fleet)`() throws {
        let config = SupportStoreConfig(rowWidth: 2, labelWidth: 1, capacity: 8, modelVersion: 1)
        let prefix = TestRedis.prefix("fleet")
        let a = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: prefix)
        let b = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: prefix)
        try [UInt64(42)].withUnsafeBufferPointer { t in
            try [Float(0.5), 1.5].withUnsafeBufferPointer { f in
                try [Float(1)].withUnsafeBufferPointer { y in
                    try [Timestamp.seconds(5)].withUnsafeBufferPointer { ts in try a.append(tasks: t, features: f, labels: y, timestamps: ts) }
                }
            }
        }
        var f = [Float](repeating: 0, count: 16), y = [Float](repeating: 0, count: 8), n = [0]
        var times = [Timestamp](repeating: .zero, count: 8)
        try Self.pull(b, [42], &f, &y, &n, &times)
        #expect(n == [1] && Array(f[..<2]) == [0.5, 1.5] && y[0] == 1)
        #expect(b.statistics.roundTrips == 1, "one pipelined round trip for the pull")
    }

    @Test func `Redis down: calls fail fast with a connection error, and recover after the backoff`() throws {
        let config = SupportStoreConfig(rowWidth: 1, labelWidth: 1, capacity: 2)
        let down = try RedisSupportStore(address: RedisAddress(host: "127.0.0.1", port: 1), config: config,
                                         timeoutSeconds: 0.2, reconnectBackoff: 30)
        var f: [Float] = [0, 0], y: [Float] = [0, 0], n = [0], times = [Timestamp](repeating: .zero, count: 2)
        #expect(throws: RedisError.self) { try Self.pull(down, [1], &f, &y, &n, &times) }
        let start = ContinuousClock.now
        #expect { try Self.pull(down, [1], &f, &y, &n, &times) } throws: { "\($0)".contains("is down") }
        #expect(ContinuousClock.now - start < .milliseconds(100), "within the backoff no connection is attempted")
        #expect(down.statistics.failures == 1)

        // Recovery: a store whose Redis went away (its pooled connection killed by the server)
        // serves again on the next call, without a restart.
        // The store alone uses database 5, so the kill below finds its connection and no other
        // test's (tests run in parallel on the same server).
        var own = TestRedis.address!
        own.database = 5
        let store = try RedisSupportStore(address: own, config: config, keyPrefix: TestRedis.prefix("recover"),
                                          timeoutSeconds: 0.5, reconnectBackoff: 0.05)
        try Self.pull(store, [1], &f, &y, &n, &times)
        let admin = try RedisConnection(address: TestRedis.address!)
        let clients = try admin.command([Array("CLIENT".utf8), Array("LIST".utf8), Array("TYPE".utf8), Array("normal".utf8)])
        let ids = String(decoding: try #require(clients.bytes), as: UTF8.self).split(separator: "\n")
            .filter { $0.contains(" db=5 ") }
            .compactMap { $0.split(separator: " ").first { $0.hasPrefix("id=") }?.dropFirst(3) }
        #expect(ids.count == 1, "the store's one pooled connection")
        for id in ids {
            _ = try admin.command([Array("CLIENT".utf8), Array("KILL".utf8), Array("ID".utf8), Array(id.utf8)])
        }
        n = [-1]
        try Self.pull(store, [1], &f, &y, &n, &times)
        #expect(n == [0], "the stale pooled connection was replaced and the pull answered")
        #expect(store.statistics.roundTrips == 2)
    }

    @Test func `a list longer than S_max, written around the store, serves S_max rows and writes nothing beyond them`() throws {
        let config = SupportStoreConfig(rowWidth: 2, labelWidth: 1, capacity: 2, modelVersion: 3)
        let prefix = TestRedis.prefix("oversized")
        let store = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: prefix)
        try [UInt64(9)].withUnsafeBufferPointer { t in
            try [Float(0.5), 1.5].withUnsafeBufferPointer { f in
                try [Float(1)].withUnsafeBufferPointer { y in
                    try [Timestamp.seconds(5)].withUnsafeBufferPointer { ts in try store.append(tasks: t, features: f, labels: y, timestamps: ts) }
                }
            }
        }
        // Another writer (or a broken server) leaves 40 rows under the key.
        let admin = try RedisConnection(address: TestRedis.address!)
        let key = Array("\(prefix):3:sup:9".utf8)
        let row = try #require(try admin.command([Array("LINDEX".utf8), key, Array("0".utf8)]).bytes)
        for _ in 0..<39 { _ = try admin.command([Array("RPUSH".utf8), key, row]) }
        // Two tasks: the second one's slot follows the first's and must keep its sentinel.
        var f = [Float](repeating: -7, count: 2 * 2 * 2), y = [Float](repeating: -7, count: 2 * 2), n = [-1, -1]
        var times = [Timestamp](repeating: .zero, count: 2 * 2)
        try Self.pull(store, [9, 10], &f, &y, &n, &times)
        #expect(n == [2, 0])
        #expect(Array(f[..<4]) == [0.5, 1.5, 0.5, 1.5] && Array(f[4...]) == [-7, -7, -7, -7], "task 10's slot untouched")
        #expect(Array(y[2...]) == [-7, -7])
        #expect(store.statistics.skippedRows == 0)
        // Elements of neither row length (a 5-byte string, a row one byte short) are skipped and counted:
        // the pull reads the list's last S_max elements, so with one of them bad, one row is served.
        _ = try admin.command([Array("RPUSH".utf8), key, Array("short".utf8)])
        try Self.pull(store, [9, 10], &f, &y, &n, &times)
        #expect(n == [1, 0] && Array(f[..<2]) == [0.5, 1.5])
        #expect(store.statistics.skippedRows == 1)
        _ = try admin.command([Array("RPUSH".utf8), key, Array(row.dropLast())])
        try Self.pull(store, [9, 10], &f, &y, &n, &times)
        #expect(n == [0, 0] && store.statistics.skippedRows == 3)
    }
}
