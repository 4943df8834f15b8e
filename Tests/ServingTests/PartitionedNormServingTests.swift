import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Serving
import TensorCore
import Testing

/// Serving a model with partitioned norm: the packed bottom then each row's scene affine from
/// the running statistics, as `metarec eval` scores the same rows; nothing allocated per request.
@Suite struct PartitionedNormServingTests {
    /// A tiny MMoE + partitioned norm with MAML trained on a small synthetic-scenes log (scene s03
    /// left to the shared affine and pooled statistics).
    static func trainModel() throws -> (dir: String, loaded: LoadedModel, test: [[String: String]]) {
        try SceneModelFixture.train("pn-serving") { config in
            config.model.partitionedNorm = .init(scenes: ["s01", "s02"], momentum: 0.9)
        }
    }

    @Test func `a request is scored as evaluation scores its rows, with the running statistics of each row's scene`() throws {
        let (dir, loaded, test) = try Self.trainModel()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = loaded.config
        #expect(loaded.parameters.partitionedNorm.allSatisfy { $0.runningVariance.scalars.contains { $0 != 1 } })
        let evaluation = try EvaluationJob(modelPath: dir + "/model", dataPath: dir + "/data/test.csv")
            .runPerUser(options: PerUserOptions(ks: [5], resamples: 10))
        var evaluated: [String: [Float]] = [:]
        for r in evaluation.base.rows { evaluated[r.user + "/" + r.task, default: []].append(Float(r.score)) }
        let predictor = Predictor(model: ServingModel(loaded))
        var usersOfScene: [String: Set<String>] = [:]
        for row in test { usersOfScene[row["scene"]!, default: []].insert(row["user_id"]!) }
        var checked = Set<String>()
        for user in usersOfScene.keys.sorted().flatMap({ usersOfScene[$0]!.sorted().prefix(3) }) {
            let rows = test.filter { $0["user_id"] == user }
            checked.insert(rows[0]["scene"]!)
            let result = try predictor.score(SceneModelFixture.request(user: user, rows: rows, config: config))
            let k = config.taskSpecs.count
            for (t, task) in config.taskSpecs.enumerated() {
                let served = (0..<rows.count).map { result.scores[$0 * k + t] }.sorted()
                let expected = try #require(evaluated[user + "/" + task.name]).sorted()
                #expect(served.count == expected.count)
                let worst = zip(served, expected).map { abs($0.0 - $0.1) }.max() ?? 0
                #expect(worst < 1e-4, "user \(user) task \(task.name): worst \(worst)")
            }
        }
        #expect(checked == ["s01", "s02", "s03"], "requests of every scene: \(checked)")
    }

    /// The norm is an affine per row from tables formed at load: nothing is allocated per
    /// request after warm-up (checked in optimized builds only, as `PredictorTests` does).
    @Test func `scoring a model with partitioned norm allocates nothing after warm-up`() throws {
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
}
