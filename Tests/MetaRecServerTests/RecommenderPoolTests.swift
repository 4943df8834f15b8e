import Foundation
@testable import Recommendation
import Retrieval
import Serving
import Testing

/// ``Recommender`` in process: concurrent recalls from the pool answer as one at a time, and a
/// non-finite adapted `u` recalls with the unadapted one and is counted.
@Suite struct RecommenderPoolTests {
    static func recommend(_ recommender: Recommender, _ batcher: AutoBatcher, user: Int) async throws -> [String] {
        let history = (0..<4).map { String((user * 7 + $0 * 11) % 60) }
        let result = try await recommender.recommend(RecommendRequest(user: "u\(user)", k: 5, n: 20, history: history, finetune: false),
                                                     batcher: batcher)
        return result.order.map { result.keys[$0] } + result.keys
    }

    @Test func `concurrent recommendations equal the same ones made one at a time`() async throws {
        let model = try Fixtures.model()
        let recommender = try Recommender(model: try RecommendTests.retrieval(), itemFeature: "item_id", ranker: model.config,
                                          adaptation: try UserAdaptation(steps: 2, rate: 0.05, supportSize: 3))
        let batcher = AutoBatcher(predictor: Predictor(model: model), configuration: .init(maxRequests: 8, maxWait: .zero, workers: 2))
        batcher.start()
        var sequential: [[String]] = []
        for user in 0..<24 { sequential.append(try await Self.recommend(recommender, batcher, user: user)) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for round in 0..<3 {
                for user in 0..<24 {
                    let u = (user + 5 * round) % 24
                    group.addTask { (u, try await Self.recommend(recommender, batcher, user: u)) }
                }
            }
            var out: [(Int, [String])] = []
            for try await pair in group { out.append(pair) }
            return out
        }
        await batcher.shutdown()
        #expect(concurrent.count == 72)
        for (user, keys) in concurrent { #expect(keys == sequential[user], "user \(user)") }
        #expect(batcher.predictor.metrics.recallAdaptationFallbackCount == 0)
    }

    @Test func `a non-finite adapted u recalls with the unadapted one and is counted`() async throws {
        let model = try Fixtures.model()
        var overflowing = try RecommendTests.retrieval()
        overflowing.manifest.temperature = 1e-40  // the adaptation's logits ⟨u, v⟩ / τ overflow
        let adapted = try Recommender(model: overflowing, itemFeature: "item_id", ranker: model.config,
                                      adaptation: try UserAdaptation(steps: 2, rate: 0.05, supportSize: 3))
        let plain = try Recommender(model: overflowing, itemFeature: "item_id", ranker: model.config)
        let batcher = AutoBatcher(predictor: Predictor(model: model), configuration: .init(maxRequests: 8, maxWait: .zero, workers: 1))
        batcher.start()
        let a = try await Self.recommend(adapted, batcher, user: 3)
        let counted = batcher.predictor.metrics.recallAdaptationFallbackCount
        let b = try await Self.recommend(plain, batcher, user: 3)
        await batcher.shutdown()
        #expect(counted == 1 && batcher.predictor.metrics.recallAdaptationFallbackCount == 1, "the plain recall adds nothing")
        #expect(a == b)
    }
}
