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
        let recommender = try Recommender(model: try Fixtures.retrieval(), itemFeature: "item_id", ranker: model.config,
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

    /// The pool's premise: a copy of a recall has its own scratch (the index's panels are shared,
    /// read-only), so one copy's recall leaves another's results and query untouched.
    @Test func `a copied recall keeps its own scratch`() throws {
        var a = CatalogueRecall(model: try Fixtures.retrieval(), precision: .float32,
                                adaptation: try UserAdaptation(steps: 2, rate: 0.05, supportSize: 3))
        var outA: [(row: Int32, score: Float)] = [], outB: [(row: Int32, score: Float)] = []
        a.recall(history: [1, 2, 3], excluding: [], n: 10, into: &outA)
        let (query, results) = (a.lastQuery, outA.map(\.row))
        var b = a
        b.recall(history: [40, 41, 42, 43], excluding: [5, 6], n: 20, into: &outB)
        #expect(b.lastQuery != query && outB.map(\.row) != results, "a different history: a different query and result")
        #expect(a.lastQuery == query, "b's recall did not write a's query")
        a.recall(history: [1, 2, 3], excluding: [], n: 10, into: &outA)
        #expect(outA.map(\.row) == results && a.lastQuery == query)
    }

    @Test func `a non-finite adapted u recalls with the unadapted one and is counted`() async throws {
        let model = try Fixtures.model()
        var overflowing = try Fixtures.retrieval()
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
