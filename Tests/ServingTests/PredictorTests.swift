import Foundation
import MetricsTestKit
import Prometheus
import ModelDescription
import ModelMath
import ParamServer
import Serving
import TensorCore
import Testing
import TestSupport

@Suite struct PredictorTests {
    @Test func `an unknown user is scored by the base towers`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model)
        var traffic = SyntheticTraffic(items: 500, seed: 1)
        let request = traffic.request(user: "nobody", candidates: 7)
        let result = try predictor.score(request)
        #expect(result.finetuned == false)
        #expect(result.supportRows == 0)
        #expect(result.fallback == .noSupport)
        #expect(result.candidateCount == 7)
        #expect(result.scores.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(predictor.metrics.fallbacks(.noSupport) == 1)
        var off = request
        off.finetune = false
        #expect(try predictor.score(off).scores == result.scores)
        #expect(predictor.metrics.fallbacks(.disabled) == 1)
    }

    @Test func `a user below the minimum support is scored by the base towers until the minimum is reached`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model, minimumSupportRows: 6)
        var traffic = SyntheticTraffic(items: 500, seed: 5)
        let request = traffic.request(user: "7", candidates: 9)
        var off = request
        off.finetune = false
        let base = try predictor.score(off).scores

        #expect(try predictor.record(events: traffic.events(user: "7", count: 5, tasks: 2)) == 5)
        let below = try predictor.score(request)
        #expect(below.supportRows == 5)
        #expect(below.finetuned == false)
        #expect(below.fallback == .belowMinimumSupport)
        #expect(below.scores == base)
        #expect(predictor.metrics.fallbacks(.belowMinimumSupport) == 1)

        #expect(try predictor.record(events: traffic.events(user: "7", count: 1, tasks: 2)) == 1)
        let reached = try predictor.score(request)
        #expect(reached.supportRows == 6)
        #expect(reached.finetuned)
        #expect(reached.fallback == nil)
        #expect(reached.scores != base)
    }

    @Test func `events make the next score of that user use the new rows`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model)
        var traffic = SyntheticTraffic(items: 500, seed: 2)
        let request = traffic.request(user: "42", candidates: 9)
        let before = try predictor.score(request)
        #expect(before.finetuned == false)

        let appended = try predictor.record(events: traffic.events(user: "42", count: 5, tasks: 2))
        #expect(appended == 5)
        let after = try predictor.score(request)
        #expect(after.finetuned)
        #expect(after.supportRows == 5)
        #expect(after.fallback == nil)
        #expect(Fixtures.maxRelativeDifference(before.scores, after.scores) > 1e-4)

        try predictor.record(events: traffic.events(user: "42", count: 3, tasks: 2, startTime: 1_800_000_000))
        let later = try predictor.score(request)
        #expect(later.supportRows == 8)
        #expect(Fixtures.maxRelativeDifference(after.scores, later.scores) > 1e-6)
        // Another user is untouched.
        #expect(try predictor.score(traffic.request(user: "43", candidates: 2)).finetuned == false)
    }

    @Test(arguments: [1, 3], [false, true])
    func `fine-tuned scores equal the inner loop run by hand`(steps: Int, learnedRates: Bool) throws {
        var shape = Fixtures.smallShape
        shape.learnsInnerRates = learnedRates
        let model = try Fixtures.model(shape)
        #expect((model.parameters.innerRates(ofTask: 0) != nil) == learnedRates)
        let predictor = Fixtures.predictor(model, steps: steps, learningRate: 0.3)
        var traffic = SyntheticTraffic(items: 500, seed: 3)
        let events = traffic.events(user: "7", count: 6, tasks: 2)
        try predictor.record(events: events)
        let request = traffic.request(user: "7", candidates: 5)
        let served = try predictor.score(request)
        #expect(served.finetuned)

        // By hand: bottom over the events (support) and the candidates, adapt each tower with
        // the Models inner loop, score. The bottom is serving's `PackedBottom` (its equality to
        // the training bottom is `PackedBottomTests`): three steps at α = 0.3 amplify rounding.
        let config = model.config, spec = config.networkSpec, encoder = model.encoder
        func metaInputs(_ rows: [[String: String]]) throws -> (meta: [Tensor], batch: EncodedBatch) {
            var batch = encoder.makeBatch()
            var scratch = FeatureEncoder.Scratch()
            for row in rows { try encoder.encode(row: row, into: &batch, scratch: &scratch) }
            var ws = NetworkWorkspace()
            PackedBottom(model.parameters, spec: spec).forward(batch: batch, layout: config.inputLayout,
                                                               table: model.embeddings, workspace: &ws)
            return (ws.meta, batch)
        }
        func text(_ row: [String: FeatureValue]) -> [String: String] {
            var out: [String: String] = [:]
            for (k, v) in row {
                let key = k == "user" ? "user_id" : k
                switch v {
                case .string(let s): out[key] = s
                case .integer(let i): out[key] = String(i)
                case .number(let d): out[key] = String(d)
                default: break
                }
            }
            return out
        }
        let support = try metaInputs(events.events.map(text))
        let candidates = try metaInputs(request.candidates.map { var r = text($0); r["user_id"] = "7"; return r })
        for k in 0..<2 {
            var labels = Tensor(shape: [6])
            for i in 0..<6 { labels[i] = support.batch.label(row: i, task: k) }
            var tws = TowerWorkspace()
            let adapted = Tower(parameters: model.parameters.towers[k], rates: model.parameters.innerRates(ofTask: k),
                                kind: .binary, activation: spec.activation)
                .adapted(on: support.meta[k], labels: labels, policy: Adaptation(steps: steps, learningRate: 0.3),
                         workspace: &tws).parameters
            var expected: [Float] = []
            TowerObjective.predictions(adapted, input: candidates.meta[k], kind: .binary, activation: spec.activation,
                                       into: &expected, workspace: &tws)
            let actual = (0..<5).map { served.score(candidate: $0, task: k) }
            #expect(Fixtures.maxRelativeDifference(actual, expected) <= 1e-5, "task \(k)")
            if learnedRates {  // and the multipliers matter: plain MAML steps give other scores
                let plain = Tower(parameters: model.parameters.towers[k], kind: .binary, activation: spec.activation)
                    .adapted(on: support.meta[k], labels: labels, policy: Adaptation(steps: steps, learningRate: 0.3),
                             workspace: &tws).parameters
                var plainScores: [Float] = []
                TowerObjective.predictions(plain, input: candidates.meta[k], kind: .binary, activation: spec.activation,
                                           into: &plainScores, workspace: &tws)
                #expect(Fixtures.maxRelativeDifference(actual, plainScores) > 1e-4, "task \(k)")
            }
        }
    }

    @Test func `non-finite adapted weights fall back to the base towers`() throws {
        let model = try Fixtures.model()
        let metricsBackend = TestMetrics()
        let predictor = Fixtures.predictor(model, metrics: ServingMetrics(factory: metricsBackend))
        var traffic = SyntheticTraffic(items: 500, seed: 4)
        let request = traffic.request(user: "bad", candidates: 4)
        let base = try predictor.score(request)
        // A corrupt support row: infinite meta-layer inputs make the gradient step non-finite.
        let w = model.support.config.rowWidth
        let features = [Float](repeating: .infinity, count: w)
        let labels: [Float] = [1, 0]
        features.withUnsafeBufferPointer { f in
            labels.withUnsafeBufferPointer { l in
                model.support.append(task: predictor.taskKey(user: "bad"), features: f, labels: l, timestamp: .seconds(1))
            }
        }
        let result = try predictor.score(request)
        #expect(result.finetuned == false)
        #expect(result.fallback == .nonFinite)
        #expect(result.supportRows == 1)
        #expect(result.scores == base.scores)
        #expect(predictor.metrics.fallbacks(.nonFinite) == 1)
        // The same count reached the swift-metrics backend (a test factory here, Prometheus in the server).
        #expect(try metricsBackend.expectCounter("metarec_finetune_fallbacks_total", [("reason", "non_finite")]).totalValue == 1)
        #expect(try metricsBackend.expectCounter("metarec_scored_requests_total").totalValue == 2)
    }

    @Test func `support rows without labels fall back to the base towers`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model)
        var traffic = SyntheticTraffic(items: 500, seed: 5)
        let request = traffic.request(user: "u", candidates: 3)
        let base = try predictor.score(request)
        let features = [Float](repeating: 0.5, count: model.support.config.rowWidth)
        let labels: [Float] = [.nan, .nan]
        features.withUnsafeBufferPointer { f in
            labels.withUnsafeBufferPointer { l in
                model.support.append(task: predictor.taskKey(user: "u"), features: f, labels: l, timestamp: .seconds(1))
            }
        }
        let result = try predictor.score(request)
        #expect(result.fallback == .noSupport)
        #expect(result.supportRows == 1)
        #expect(result.scores == base.scores)
    }

    @Test func `expired support rows are not served`() throws {
        let clock = ManualClock(start: .seconds(1_000))
        var shape = Fixtures.smallShape
        shape.supportCapacity = 8
        let model = try Fixtures.model(shape, clock: clock)
        let predictor = Fixtures.predictor(model)
        var traffic = SyntheticTraffic(items: 500, seed: 6)
        try predictor.record(events: traffic.events(user: "old", count: 8, tasks: 2))
        let request = traffic.request(user: "old", candidates: 2)
        #expect(try predictor.score(request).supportRows == 8)
        clock.advance(by: .seconds(31 * 24 * 3600))  // past the 30-day default TTL
        // The keep-floor (4 newest rows) survives expiry.
        #expect(try predictor.score(request).supportRows == 4)
    }

    @Test func `per-request steps and learning rate override the defaults`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model, steps: 3, learningRate: 0.3)
        var traffic = SyntheticTraffic(items: 500, seed: 7)
        try predictor.record(events: traffic.events(user: "o", count: 6, tasks: 2))
        var request = traffic.request(user: "o", candidates: 3)
        let defaults = try predictor.score(request)
        request.steps = 3
        request.learningRate = 0.3
        #expect(try predictor.score(request).scores == defaults.scores)
        request.steps = 1
        #expect(Fixtures.maxRelativeDifference(try predictor.score(request).scores, defaults.scores) > 1e-6)
        request.steps = 0
        let zero = try predictor.score(request)
        #expect(zero.finetuned == false && zero.fallback == .disabled)
    }

    @Test func `scoring allocates nothing after warm-up`() throws {
        let model = try Fixtures.model()
        // The server's metrics backend (swift-prometheus): its counters and histograms must not allocate either.
        let predictor = Fixtures.predictor(model, metrics: ServingMetrics(factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())))
        var traffic = SyntheticTraffic(items: 500, seed: 8)
        try predictor.record(events: traffic.events(user: "a", count: 16, tasks: 2))
        let request = traffic.request(user: "a", candidates: 50)
        var result = ScoreResult(modelVersion: model.modelVersion, taskNames: predictor.taskNames)
        for _ in 0..<20 { try predictor.score(request, into: &result) }
        let allocations = try AllocationCounter.count { for _ in 0..<50 { try predictor.score(request, into: &result) } }
        // No counter on this platform, or a debug build (see AllocationCounter.isOptimized):
        // `swift test -c release --filter ServingTests` checks it.
        guard let allocations, AllocationCounter.isOptimized else { return }
        #expect(allocations <= 50 * AllocationCounter.perRequestBudget, "allocations per request: \(Double(allocations) / 50)")
    }
}
