import Foundation
import ParamServer
import Testing

/// `RedisSupportStore.seed(from:)`: a model directory's in-process rows copied into a fleet's Redis
/// once per model version.
@Suite(.enabled(if: TestRedis.address != nil, "METAREC_REDIS_URL is unset: run `make test` (it starts redis-server on loopback)"))
struct RedisSeedTests {
    @Test func `a seeded Redis serves the in-process store's rows, and a second seed of the version copies nothing`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        let config = SupportStoreConfig(rowWidth: 2, labelWidth: 1, capacity: 3, expiry: .timeToLive(.seconds(60)), modelVersion: 4, shardCount: 4)
        let local = try SupportStore(config: config, clock: clock)
        for (task, value) in [(UInt64(1), Float(1)), (2, 2), (1, 3), (1, 4), (1, 5), (3, 6)] {
            [value, -value].withUnsafeBufferPointer { f in [value].withUnsafeBufferPointer { y in
                local.append(task: task, features: f, labels: y, timestamp: .seconds(Int64(value)))
            } }
        }
        clock.advance(by: .seconds(90))  // every row is past the TTL ...
        for (task, value) in [(UInt64(2), Float(7))] {  // ... but this one
            [value, -value].withUnsafeBufferPointer { f in [value].withUnsafeBufferPointer { y in
                local.append(task: task, features: f, labels: y, timestamp: .seconds(Int64(value)))
            } }
        }
        let prefix = TestRedis.prefix("seed")
        let a = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: prefix, timeoutSeconds: 1, clock: clock)
        let b = try RedisSupportStore(address: TestRedis.address!, config: config, keyPrefix: prefix, timeoutSeconds: 1, clock: clock)
        #expect(try a.seed(from: local, chunkRows: 1) == 1, "only the servable row is copied")
        #expect(try b.seed(from: local) == nil, "the version was seeded already")
        var f = [Float](repeating: 0, count: 3 * 3 * 2), y = [Float](repeating: 0, count: 9), n = [0, 0, 0]
        var times = [Timestamp](repeating: .zero, count: 9)
        try RedisSupportStoreTests.pull(b, [1, 2, 3], &f, &y, &n, &times)
        #expect(n == [0, 1, 0])
        #expect(Array(f[6..<8]) == [7, -7] && y[3] == 7 && times[3] == .seconds(7), "features, label and event time kept")

        a.setModelVersion(5)
        local.setModelVersion(5)
        #expect(try a.seed(from: local) == 0, "a new version has its own marker (and the local rows are version 4's: none copied)")
    }
}
