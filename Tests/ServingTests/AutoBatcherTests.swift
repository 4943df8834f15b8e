import Foundation
import ModelDescription
import ModelMath
@testable import Serving
import Testing

@Suite struct AutoBatcherTests {
    @Test(arguments: [1, 2])
    func `a request scores the same alone or merged with 64 others`(workers: Int) async throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model, steps: 3, learningRate: 0.5)
        var traffic = SyntheticTraffic(items: 500, seed: 21)
        // 65 users with support sizes 0, 1, 2, …, 32 (capped at S_max) and 1 … 40 candidates.
        var requests: [ScoreRequest] = []
        for u in 0..<65 {
            let s = u % 33
            if s > 0 { try predictor.record(events: traffic.events(user: "m\(u)", count: s, tasks: 2)) }
            requests.append(traffic.request(user: "m\(u)", candidates: 1 + (u * 7) % 40))
        }
        let alone = try requests.map { try predictor.score($0) }
        let batcher = AutoBatcher(predictor: predictor, configuration: .init(maxRequests: 65, maxWait: .milliseconds(200), workers: workers))
        batcher.start()
        let merged = try await withThrowingTaskGroup(of: (Int, ScoreResult).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await batcher.score(r)) } }
            var out = [ScoreResult?](repeating: nil, count: requests.count)
            for try await (i, result) in group { out[i] = result }
            return out.map { $0! }
        }
        await batcher.shutdown()
        let (batches, batched) = predictor.metrics.batches
        #expect(batched == 65)
        #expect(batches < 65, "requests were not merged: \(batches) batches")
        for (i, (a, m)) in zip(alone, merged).enumerated() {
            #expect(a.finetuned == m.finetuned && a.supportRows == m.supportRows, "request \(i)")
            #expect(Fixtures.maxRelativeDifference(a.scores, m.scores) <= 1e-5, "request \(i)")
        }
    }

    @Test func `a gathering batch closes at the deadline or after a quiet quarter of it`() {
        let t0 = ContinuousClock.now, wait = Duration.microseconds(200)
        // A lone request: closes 50 µs after it arrived, not 200.
        #expect(BatchQueue.batchClosing(oldest: t0, newest: t0, maxWait: wait) == t0 + .microseconds(50))
        // A burst that keeps arriving: the newest extends the window up to the oldest's deadline.
        #expect(BatchQueue.batchClosing(oldest: t0, newest: t0 + .microseconds(120), maxWait: wait) == t0 + .microseconds(170))
        #expect(BatchQueue.batchClosing(oldest: t0, newest: t0 + .microseconds(190), maxWait: wait) == t0 + wait)
        // No wait configured: closes at once.
        #expect(BatchQueue.batchClosing(oldest: t0, newest: t0, maxWait: .zero) == t0)
    }

    @Test func `a bad request fails alone and the others are scored`() async throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model)
        let batcher = AutoBatcher(predictor: predictor, configuration: .init(maxRequests: 8, maxWait: .milliseconds(50), workers: 1))
        batcher.start()
        var traffic = SyntheticTraffic(items: 500, seed: 22)
        let good = traffic.request(user: "g", candidates: 3)
        var bad = good
        bad.candidates[1]["colour"] = "red"
        let a = Task { try await batcher.score(good) }
        let b = Task { try await batcher.score(bad) }
        #expect(try await a.value.candidateCount == 3)
        await #expect(throws: ServingError.unknownFeature(field: "candidates[1].colour")) { try await b.value }
        await batcher.shutdown()
        await #expect(throws: ServingError.shuttingDown) { try await batcher.score(good) }
    }
}
