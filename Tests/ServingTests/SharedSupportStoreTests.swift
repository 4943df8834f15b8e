import Foundation
import ModelDescription
import ModelMath
import ParamServer
import Serving
import Testing
import TestSupport

/// The predictor on a shared support store (``ParamServer/RedisSupportStore``, issue 23): it scores
/// exactly as on the in-process store, pulls a merged batch's users in one round trip, and falls
/// back to the base towers (never an error) when the store is down, while events are refused.
@Suite struct SharedSupportStoreTests {
    /// `$METAREC_REDIS_URL` (set by `make test` through `scripts/with-redis.sh`).
    static var redis: RedisAddress? {
        guard let url = ProcessInfo.processInfo.environment["METAREC_REDIS_URL"], !url.isEmpty else { return nil }
        return try? RedisAddress(url: url)
    }

    static func redisStore(_ model: ServingModel, address: RedisAddress, clock: ManualClock) throws -> RedisSupportStore {
        try RedisSupportStore(address: address, config: model.support.config, keyPrefix: "metarec-serving-test:\(UUID().uuidString)",
                              timeoutSeconds: 1, clock: clock)
    }

    static func shape(encoder: Bool, precision: SupportPrecision = .float32) -> ServingModel.SyntheticShape {
        var shape = ServingModel.SyntheticShape.small
        shape.supportPrecision = precision
        if encoder {
            shape.supportCapacity = 4
            shape.supportEncoder = .init(source: "item_id", pooling: [.mean, .labelWeighted], label: "task1")
        }
        return shape
    }

    @Test(.enabled(if: redis != nil, "METAREC_REDIS_URL is unset: run `make test` (it starts redis-server on loopback)"),
          arguments: [false, true], SupportPrecision.allCases)
    func `scores on Redis equal scores on the in-process store, one round trip a merged batch`(encoder: Bool, precision: SupportPrecision) throws {
        let clock = ManualClock(start: .seconds(1_700_000_100))
        let model = try Fixtures.model(Self.shape(encoder: encoder, precision: precision), clock: clock)
        #expect(model.support.config.precision == precision && model.support.config.bitPatternColumns == (encoder ? SupportRowKey.width : 0))
        let local = Fixtures.predictor(model)
        let store = try Self.redisStore(model, address: #require(Self.redis), clock: clock)
        let shared = Predictor(model: model, settings: local.settings, supportStore: store)
        #expect(shared.supportStore.isShared && !local.supportStore.isShared)

        var traffic = SyntheticTraffic(items: 500, seed: 9)
        for (user, count) in [("a", 3), ("b", 6), ("a", 2)] {
            let events = traffic.events(user: user, count: count, tasks: 2)
            #expect(try local.record(events: events) == count)
            #expect(try shared.record(events: events) == count)
        }
        // Four requests of three distinct users (one unknown), merged into one batch.
        let requests = ["a", "b", "a", "nobody"].map { traffic.request(user: $0, candidates: 5) }
        var localResults: [Result<ScoreResult, ServingError>] = [], sharedResults: [Result<ScoreResult, ServingError>] = []
        var lw = local.makeWorkspace(), sw = shared.makeWorkspace()
        local.scoreBatch(requests, into: &localResults, workspace: &lw)
        let before = store.statistics.roundTrips
        shared.scoreBatch(requests, into: &sharedResults, workspace: &sw)
        #expect(store.statistics.roundTrips - before == 1, "one pipelined pull for the whole batch")
        for (l, s) in zip(localResults, sharedResults) {
            let (a, b) = (try l.get(), try s.get())
            #expect(a.supportRows == b.supportRows && a.finetuned == b.finetuned && a.fallback == b.fallback)
            #expect(a.scores == b.scores, "user scores differ between the stores")
        }
        let rows = try sharedResults.map { try $0.get().supportRows }
        #expect(rows == (encoder ? [4, 4, 4, 0] : [5, 6, 5, 0]), "S_max \(encoder ? 4 : 64)")
        // A single request (not batched) pulls its own row set through the same protocol.
        #expect(try shared.score(requests[1]).scores == local.score(requests[1]).scores)
    }

    @Test(arguments: [false, true])
    func `Redis down: base towers for every request of a batch, counted once, events refused`(encoder: Bool) throws {
        let clock = ManualClock(start: .seconds(1_700_000_100))
        let model = try Fixtures.model(Self.shape(encoder: encoder), clock: clock)
        let base = Fixtures.predictor(model)
        let closed = RedisAddress(host: "127.0.0.1", port: 1)  // nothing listens: connection refused
        let store = try RedisSupportStore(address: closed, config: model.support.config, timeoutSeconds: 0.5, clock: clock)
        let shared = Predictor(model: model, settings: base.settings, supportStore: store)
        var traffic = SyntheticTraffic(items: 500, seed: 3)

        let events = traffic.events(user: "a", count: 2, tasks: 2)
        #expect {
            try shared.record(events: events)
        } throws: { error in
            guard case .supportStoreUnavailable(let failure) = error as? ServingError else { return false }
            return failure.cause == .down && (error as! ServingError).httpStatus == 503 && (error as! ServingError).code == "support_store_unavailable"
        }
        #expect(shared.metrics.supportStoreFailures == 1)
        #expect(model.support.count == 0, "nothing appended anywhere")

        let requests = ["a", "b", "c"].map { traffic.request(user: $0, candidates: 4) }
        var results: [Result<ScoreResult, ServingError>] = []
        var ws = shared.makeWorkspace()
        shared.scoreBatch(requests, into: &results, workspace: &ws)
        var off = requests[0]
        off.finetune = false
        let baseScores = try base.score(off).scores
        for result in results {
            let r = try result.get()
            #expect(!r.finetuned && r.fallback == .supportStoreUnavailable && r.supportRows == 0)
        }
        #expect(try results[0].get().scores == baseScores, "the base towers served")
        #expect(shared.metrics.fallbacks(.supportStoreUnavailable) == 3)
        #expect(shared.metrics.supportStoreFailures == 2, "the batch's one pull failed once")
        var json: [UInt8] = []
        try results[0].get().writeJSON(into: &json)
        #expect(String(decoding: json, as: UTF8.self).hasSuffix(#"],"fallback":"support_store_unavailable"}"#))
    }

    @Test func `the in-process store pulls a batch of tasks through the protocol as one pull each`() throws {
        let store = try SupportStore(config: SupportStoreConfig(rowWidth: 2, labelWidth: 1, capacity: 3))
        let rows: [(UInt64, Float)] = [(1, 1), (2, 2), (1, 3), (1, 4), (1, 5)]
        for (task, value) in rows {
            [value, -value].withUnsafeBufferPointer { f in [value].withUnsafeBufferPointer { y in
                store.append(task: task, features: f, labels: y, timestamp: .seconds(Int64(value)))
            } }
        }
        let protocolStore: any SupportRowStore = store
        var f = [Float](repeating: .nan, count: 3 * 3 * 2), y = [Float](repeating: .nan, count: 3 * 3), counts = [Int](repeating: -1, count: 3)
        try [UInt64(1), 9, 2].withUnsafeBufferPointer { tasks in
            try f.withUnsafeMutableBufferPointer { fp in
                try y.withUnsafeMutableBufferPointer { yp in
                    try counts.withUnsafeMutableBufferPointer { cp in try protocolStore.pullRows(tasks, features: fp, labels: yp, counts: cp) }
                }
            }
        }
        #expect(counts == [3, 0, 1])
        #expect(Array(f[0..<6]) == [3, -3, 4, -4, 5, -5], "task 1: its newest S_max = 3 rows, oldest first")
        #expect(Array(y[0..<3]) == [3, 4, 5])
        #expect(Array(f[12..<14]) == [2, -2] && y[6] == 2, "task 2 at slot 2")
    }
}
