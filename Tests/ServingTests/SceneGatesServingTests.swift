import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Serving
import TensorCore
import Testing

/// Serving a model with scene experts and a gate per task and scene (`gates: per_scene`): the
/// packed bottom gives every candidate the training bottom's `f_k` (its own scene's experts and
/// gate; s03 is not listed, so its rows take the shared experts and the unknown scene's gate),
/// and nothing is allocated per request after warm-up.
@Suite struct SceneGatesServingTests {
    /// A tiny model (2 shared experts + 1 per scene, per-scene gates, MAML) trained on a small
    /// synthetic-scenes log.
    static func trainModel() throws -> (dir: String, loaded: LoadedModel, test: [[String: String]]) {
        try SceneModelFixture.train("scene-gates-serving", validation: true) { config in
            config.model.sceneExperts = .init(perScene: 1, scenes: ["s01", "s02"], gates: .perScene)
        }
    }

    @Test func `served meta-layer inputs equal the training bottom's, every scene and an unlisted one`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = loaded.config, spec = config.networkSpec, k = spec.taskCount, h = spec.metaWidth
        #expect(spec.sceneExperts?.gates == .perScene && loaded.parameters.sceneGates.count == k)
        let predictor = Predictor(model: ServingModel(loaded))
        // A mixed request: runs of s01, s02 and s03 (not listed: shared experts, the unknown scene's gate).
        let rows = ["s01", "s01", "s02", "s03", "s01", "s03", "s02"].enumerated().map { i, scene in
            test.filter { $0["scene"] == scene }[i]
        }
        let candidates: [[String: FeatureValue]] = rows.map { row in
            var c: [String: FeatureValue] = [:]
            for feature in config.features where feature.name != config.taskKey {
                if case .numeric = feature.kind { c[feature.name] = .number(Double(row[feature.name]!)!) } else { c[feature.name] = .string(row[feature.name]!) }
            }
            return c
        }
        let request = ScoreRequest(user: rows[0]["user_id"]!, candidates: candidates, finetune: false)
        let served = try predictor.metaLayerInputs(of: request)
        // The training bottom on the same rows (the user's key on every row, as the request's).
        var batch = loaded.encoder.makeBatch(), scratch = FeatureEncoder.Scratch()
        for row in rows {
            var r = row
            r[config.taskKey] = rows[0]["user_id"]!
            try loaded.encoder.encode(row: r, into: &batch, scratch: &scratch)
        }
        var ws = NetworkWorkspace()
        MultiTaskNetwork.forwardBottom(loaded.parameters, spec: spec, layout: config.inputLayout, batch: batch, table: loaded.embeddings,
                                       createEmbeddings: false, workspace: &ws)
        for r in 0..<rows.count {
            for t in 0..<k {
                for j in 0..<h {
                    let expected = ws.meta[t][r, j], actual = served[(r * k + t) * h + j]
                    #expect(abs(actual - expected) <= 1e-5 + 1e-5 * abs(expected), "row \(r) (\(rows[r]["scene"]!)) task \(t) column \(j)")
                }
            }
        }
        var tuned = request
        tuned.finetune = true
        #expect(try predictor.score(tuned).scores.allSatisfy { $0.isFinite })
    }

    @Test func `scoring a per-scene-gate model allocates nothing after warm-up`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let predictor = Predictor(model: ServingModel(loaded))
        let user = test.first { $0["scene"] == "s02" }!["user_id"]!
        let config = loaded.config
        let candidates: [[String: FeatureValue]] = test.filter { $0["user_id"] == user }.prefix(8).map { row in
            var c: [String: FeatureValue] = [:]
            for feature in config.features where feature.name != config.taskKey {
                if case .numeric = feature.kind { c[feature.name] = .number(Double(row[feature.name]!)!) } else { c[feature.name] = .string(row[feature.name]!) }
            }
            return c
        }
        let request = ScoreRequest(user: user, candidates: candidates, finetune: true)
        var result = try predictor.score(request)
        for _ in 0..<20 { try predictor.score(request, into: &result) }
        let allocations = try AllocationCounter.count { for _ in 0..<50 { try predictor.score(request, into: &result) } }
        guard let allocations, AllocationCounter.isOptimized else { return }
        #expect(allocations <= 50 * AllocationCounter.perRequestBudget, "allocations per request: \(Double(allocations) / 50)")
    }
}
