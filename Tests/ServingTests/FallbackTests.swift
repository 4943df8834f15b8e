import MetricsTestKit
import ModelDescription
import ModelMath
import ParamServer
import Serving
import Testing

/// The sane fallback: an adapted tower that moved too far, or whose predictions leave the
/// label's range, is not served; the request gets the base towers and the reason is counted.
@Suite struct FallbackTests {
    /// A user with 12 labelled events and a request of 6 candidates.
    static func setUp(_ predictor: Predictor, user: String) throws -> ScoreRequest {
        var traffic = SyntheticTraffic(items: 500, seed: 11)
        _ = try predictor.record(events: traffic.events(user: user, count: 12, tasks: 2))
        return traffic.request(user: user, candidates: 6)
    }

    static func base(_ predictor: Predictor, _ request: ScoreRequest) throws -> [Float] {
        var off = request
        off.finetune = false
        return try predictor.score(off).scores
    }

    @Test func `an outsized update falls back to the base towers and is counted`() throws {
        let model = try Fixtures.model()
        let backend = TestMetrics()
        let wild = Fixtures.predictor(model, steps: 5, learningRate: 500, guarded: true, metrics: ServingMetrics(factory: backend))
        let request = try Self.setUp(wild, user: "wild")
        let result = try wild.score(request)
        #expect(result.finetuned == false)
        #expect(result.fallback == .outsizedUpdate)
        #expect(result.scores == (try Self.base(wild, request)))
        #expect(wild.metrics.fallbacks(.outsizedUpdate) == 1)
        #expect(try backend.expectCounter("metarec_finetune_fallbacks_total", [("reason", "outsized_update")]).totalValue == 1)
        // Without the bound the same request is served fine-tuned (so the check above can fail).
        var settings = wild.settings
        settings.guards = [AdaptationGuard](repeating: .none, count: 2)
        let unguarded = Predictor(model: model, settings: settings)
        #expect(try unguarded.score(request).finetuned)
    }

    @Test func `a prediction outside the label range falls back to the base towers`() throws {
        let model = try Fixtures.model()
        var settings = Fixtures.predictor(model).settings
        settings.guards = [AdaptationGuard](repeating: AdaptationGuard(labelRange: 0...0.001, margin: 0, maxRelativeChange: .infinity),
                                            count: 2)
        let predictor = Predictor(model: model, settings: settings)
        let request = try Self.setUp(predictor, user: "range")
        let result = try predictor.score(request)
        #expect(result.fallback == .outOfRange)
        #expect(result.finetuned == false)
        #expect(result.scores == (try Self.base(predictor, request)))
        #expect(predictor.metrics.fallbacks(.outOfRange) == 1)
    }

    @Test func `a modest adaptation passes the default guards`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model, steps: 3, learningRate: 0.005, guarded: true)
        let request = try Self.setUp(predictor, user: "calm")
        let result = try predictor.score(request)
        #expect(result.finetuned)
        #expect(result.fallback == nil)
        #expect(result.scores != (try Self.base(predictor, request)))
    }
}
