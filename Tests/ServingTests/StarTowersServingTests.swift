import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Serving
import TensorCore
import Testing

/// Serving a model with STAR towers: a request is scored with the effective towers of its
/// candidates' scene, base and fine-tuned, as evaluation scores it.
@Suite struct StarTowersServingTests {
    /// A tiny STAR model with MAML trained on a small synthetic-scenes log (scene s03 left to the shared towers).
    static func trainModel() throws -> (dir: String, loaded: LoadedModel, test: [[String: String]]) {
        try SceneModelFixture.train("star-serving") { config in
            config.model.starTowers = .init(scenes: ["s01", "s02"])
        }
    }

    /// Columns `offset ..< offset + width` of `rows` rows of `rowWidth` floats, as `(rows, width)`.
    static func block(_ values: [Float], rows: Int, rowWidth: Int, offset: Int, width: Int) -> Tensor {
        var out = Tensor(shape: [rows, width])
        for r in 0..<rows {
            for j in 0..<width { out.scalars[r * width + j] = values[r * rowWidth + offset + j] }
        }
        return out
    }

    /// The STAR path picks a precomputed tower per request: nothing is allocated per request
    /// after warm-up (checked in optimized builds only, as `PredictorTests` does).
    @Test func `scoring a STAR model allocates nothing after warm-up`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let predictor = Predictor(model: ServingModel(loaded))
        let user = test.first { $0["scene"] == "s02" }!["user_id"]!
        var request = SceneModelFixture.request(user: user, rows: Array(test.filter { $0["user_id"] == user }.prefix(8)), config: loaded.config)
        request.finetune = true
        var result = try predictor.score(request)
        #expect(result.finetuned)
        for _ in 0..<20 { try predictor.score(request, into: &result) }
        let allocations = try AllocationCounter.count { for _ in 0..<50 { try predictor.score(request, into: &result) } }
        guard let allocations, AllocationCounter.isOptimized else { return }
        #expect(allocations <= 50 * AllocationCounter.perRequestBudget, "allocations per request: \(Double(allocations) / 50)")
    }

    @Test func `a request is scored with its scene's STAR towers, base and fine-tuned`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = loaded.config, spec = config.networkSpec
        #expect(!loaded.parameters.starTowers.isEmpty)
        let predictor = Predictor(model: ServingModel(loaded))
        var checked = Set<String>(), fineTuned = 0
        // Four users of every scene (s03 has no factors: the shared towers).
        var usersOfScene: [String: Set<String>] = [:]
        for row in test { usersOfScene[row["scene"]!, default: []].insert(row["user_id"]!) }
        for user in usersOfScene.keys.sorted().flatMap({ usersOfScene[$0]!.sorted().prefix(4) }) {
            let rows = test.filter { $0["user_id"] == user }.prefix(5)
            let scene = rows.first!["scene"]!
            checked.insert(scene)
            let request = SceneModelFixture.request(user: user, rows: Array(rows), config: config)
            let base = try predictor.score(request)
            // The reference: the request's meta-layer inputs through the scene's effective tower (or the shared one for s03).
            let f = try predictor.metaLayerInputs(of: request)
            let s = config.model.starTowers!.scenes.firstIndex(of: scene) ?? -1
            let k = spec.taskCount, h = spec.metaWidth
            for t in 0..<k {
                let tower = Tower(parameters: loaded.parameters.tower(ofTask: t, scene: s), kind: config.taskSpecs[t].kind, activation: spec.activation)
                var scores: [Float] = [], ws = TowerWorkspace()
                let ft = Self.block(f, rows: rows.count, rowWidth: k * h, offset: t * h, width: h)
                tower.predictions(ft, into: &scores, workspace: &ws)
                for r in 0..<rows.count {
                    let (served, expected): (Float, Float) = (base.scores[r * k + t], scores[r])
                    #expect(abs(served - expected) < 1e-5, "user \(user) scene \(scene) task \(t) row \(r)")
                }
            }
            // Fine-tuned: the scene's effective tower adapted on the user's support rows (the store's).
            var tunedRequest = request
            tunedRequest.finetune = true
            let tuned = try predictor.score(tunedRequest)
            let finite = tuned.scores.allSatisfy { $0.isFinite }
            #expect(finite)
            guard tuned.finetuned else { continue }
            fineTuned += 1
            let width = config.supportRowWidth, capacity = loaded.support.config.capacity
            var sf = [Float](repeating: 0, count: capacity * width), sl = [Float](repeating: 0, count: capacity * k)
            let n = sf.withUnsafeMutableBufferPointer { f in
                sl.withUnsafeMutableBufferPointer { l in loaded.support.pull(task: predictor.taskKey(user: user), features: f, labels: l) }
            }
            let policy = ServingSettings(config).adaptation
            for t in 0..<k {
                var tower = Tower(parameters: loaded.parameters.tower(ofTask: t, scene: s), kind: config.taskSpecs[t].kind, activation: spec.activation)
                var ws = TowerWorkspace(), scores: [Float] = []
                let fs = Self.block(sf, rows: n, rowWidth: width, offset: t * h, width: h)
                let ys = Self.block(sl, rows: n, rowWidth: k, offset: t, width: 1).reshaped([n])
                TowerRows.with(fs, labels: ys) { tower.adapt(on: $0, policy: policy, workspace: &ws) }
                let ft = Self.block(f, rows: rows.count, rowWidth: k * h, offset: t * h, width: h)
                tower.predictions(ft, into: &scores, workspace: &ws)
                for r in 0..<rows.count {
                    let (served, expected): (Float, Float) = (tuned.scores[r * k + t], scores[r])
                    #expect(abs(served - expected) < 1e-4, "fine-tuned: user \(user) scene \(scene) task \(t) row \(r)")
                }
            }
        }
        #expect(checked == ["s01", "s02", "s03"], "requests of every scene: \(checked)")
        #expect(fineTuned > 0, "some requests were fine-tuned")
    }

    /// A request whose candidates come from several scenes: unadapted, each candidate is scored
    /// by its own scene's tower (as `metarec eval` scores a row), not by the majority scene's.
    @Test func `a mixed-scene request's base scores use each candidate's own scene`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = loaded.config, spec = config.networkSpec, k = spec.taskCount, h = spec.metaWidth
        let predictor = Predictor(model: ServingModel(loaded))
        // Runs of s01, s02, s01, s03 (unknown to the factors), s02.
        let rows = ["s01", "s01", "s02", "s01", "s03", "s02", "s02"].enumerated().map { i, scene in
            test.filter { $0["scene"] == scene }[i]
        }
        let request = SceneModelFixture.request(user: rows[0]["user_id"]!, rows: rows, config: config)
        let base = try predictor.score(request)
        let f = try predictor.metaLayerInputs(of: request)
        for (r, row) in rows.enumerated() {
            let s = config.model.starTowers!.scenes.firstIndex(of: row["scene"]!) ?? -1
            for t in 0..<k {
                let tower = Tower(parameters: loaded.parameters.tower(ofTask: t, scene: s), kind: config.taskSpecs[t].kind, activation: spec.activation)
                var scores: [Float] = [], ws = TowerWorkspace()
                tower.predictions(Self.block(f, rows: rows.count, rowWidth: k * h, offset: t * h, width: h), into: &scores, workspace: &ws)
                #expect(abs(base.scores[r * k + t] - scores[r]) < 1e-5, "row \(r) (\(row["scene"]!)) task \(t)")
            }
        }
    }
}
