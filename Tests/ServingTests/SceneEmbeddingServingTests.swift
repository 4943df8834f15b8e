import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Serving
import Testing

/// Scene-private embeddings end to end: a model whose `user_id` has shared and private rows
/// trains both, and serving scores a request as `metarec eval` scores the same rows.
@Suite struct SceneEmbeddingServingTests {
    @Test func `shared and private rows are trained, and serving scores as eval does`() throws {
        let (dir, loaded, test) = try SceneModelFixture.train("scene-embedding") { config in
            config.features[config.features.firstIndex { $0.name == "user_id" }!].sceneEmbedding = .sharedAndPrivate
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = loaded.config
        #expect(config.categoricalFeatures.filter { $0.name == "user_id" }.map(\.sceneEmbedding) == [.sharedAndPrivate, .private])
        #expect(loaded.parameters.experts[0].layers[0].inputs == config.inputWidth)

        let someone = try #require(test.first)
        // Both of the user's rows exist and were trained (a missing key reads zeros).
        let shared = FeatureKey.hash(feature: "user_id", value: someone["user_id"]!)
        let scoped = FeatureKey.scoped(shared, scene: FeatureKey.hash(feature: "scene", value: someone["scene"]!))
        var rows = [Float](repeating: 0, count: 2 * loaded.embeddings.dimension)
        [shared, scoped].withUnsafeBufferPointer { keys in
            rows.withUnsafeMutableBufferPointer { loaded.embeddings.pull(keys: keys, into: $0, create: false) }
        }
        let d = loaded.embeddings.dimension
        #expect(rows[..<d].contains { $0 != 0 } && rows[d...].contains { $0 != 0 } && Array(rows[..<d]) != Array(rows[d...]))

        // Serving's base scores of each user's test rows equal eval's (sorted per user: eval keeps no row order).
        let plain = try EvaluationJob(modelPath: dir + "/model", dataPath: dir + "/data/test.csv")
            .runPerUser(options: PerUserOptions(ks: [5], resamples: 10))
        var evaluated: [String: [Double]] = [:]
        for r in plain.base.rows where r.task == config.labels[0].name { evaluated[r.user, default: []].append(r.score) }
        let predictor = Predictor(model: ServingModel(loaded))
        var worst = 0.0, users = 0
        for name in Set(test.map { $0["user_id"]! }).sorted().prefix(10) {
            let mine = test.filter { $0["user_id"] == name }
            let result = try predictor.score(SceneModelFixture.request(user: name, rows: mine, config: config))
            let served = (0..<mine.count).map { Double(result.scores[$0 * config.taskCount]) }.sorted()
            let expected = try #require(evaluated[name]).sorted()
            #expect(served.count == expected.count)
            for (a, b) in zip(served, expected) { worst = max(worst, abs(a - b)) }
            users += 1
        }
        #expect(users == 10 && worst < 1e-5, "serving and eval scores differ by \(worst)")
    }
}
