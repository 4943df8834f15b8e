import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Testing

/// `EvaluationJob`'s per-user path on the tiny training fixture (users u0 … u6, one binary task).
@Suite struct PerUserEvaluationTests {
    @Test func `base scoring gives run()'s global metrics and names users as in the log`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-peruser-eval")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let job = EvaluationJob(modelPath: model, dataPath: dir + "/good.csv")
        let result = try job.runPerUser(options: PerUserOptions(ks: [2, 4], resamples: 100))
        let global = try job.run().map(\.metrics)
        #expect(result.groups.count == 1 && result.groups[0].base == global)
        #expect(result.fineTuned == nil && result.taskKey == "user" && result.tasks == ["like"])
        #expect(result.base.rows.count == 48)
        #expect(Set(result.base.rows.map(\.user)) == Set((0..<7).map { "u\($0)" }))
        let report = try #require(result.perUser.first?.reports.first)
        #expect(result.perUser.map(\.name) == ["all"] && report.b == nil)
        #expect(report.metrics.map(\.description) == ["gauc", "ndcg@2", "ndcg@4", "recall@2", "recall@4"])
        #expect(report.a[0].users + report.a[0].skipped == 7)
        // The per-user values are those of the scored rows.
        #expect(report.a[0] == PerUserValues(metric: .gauc, users: result.base.users(task: "like"), scale: .binary))
    }

    @Test func `fine-tuned scoring pairs both variants per group, and the written files reproduce the comparison`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-peruser-eval-ft")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try TrainingFixture.trainModel(in: dir)
        let job = EvaluationJob(modelPath: model, dataPath: dir + "/good.csv")
        let options = PerUserOptions(ks: [3], resamples: 200, seed: 4)
        let result = try job.runFineTunedPerUser(source: .evaluatedFile(fraction: 0.5), steps: 3, learningRate: 0.5,
                                                 minimumSupportRows: 1, options: options)
        let plain = try job.runFineTuned(source: .evaluatedFile(fraction: 0.5), steps: 3, learningRate: 0.5, minimumSupportRows: 1)
        #expect(result.groups.map(\.name) == plain.groups.map(\.name))
        #expect(result.groups.map(\.base) == plain.groups.map(\.base) && result.groups.map(\.fineTuned) == plain.groups.map(\.fineTuned))
        #expect(result.perUser.map(\.name) == result.groups.map(\.name))
        let tuned = try #require(result.fineTuned)
        #expect(tuned.rows.count == result.base.rows.count && tuned.rows.count == result.groups[0].base[0].count)
        // Global AUC from the scored rows equals the accumulator's.
        #expect(RankingMetrics.auc(labels: tuned.rows.map(\.label), scores: tuned.rows.map(\.score)) == result.groups[0].fineTuned[0].auc)

        try ScoredRowsFile.write(result.base, to: dir + "/base.csv")
        try ScoredRowsFile.write(tuned, to: dir + "/finetuned.csv")
        let fromFiles = PerUserReport.compare(a: try ScoredRowsFile.read(path: dir + "/base.csv"),
                                              b: try ScoredRowsFile.read(path: dir + "/finetuned.csv"),
                                              ks: options.ks, resamples: options.resamples, seed: options.seed)
        let all = result.perUser[0].reports[0]
        #expect(fromFiles.count == 1 && fromFiles[0].differences == all.differences && fromFiles[0].a == all.a)
        // The activity-bucket groups split the users of "all".
        let bucketUsers = result.perUser.dropFirst().map { $0.reports[0].a[1].users + $0.reports[0].a[1].skipped }
        #expect(bucketUsers.reduce(0, +) == all.a[1].users + all.a[1].skipped)
    }

    @Test func `evaluation applies serving's fallback: a refused adaptation scores with the base towers`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-eval-guard")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try LoadedModel(path: try TrainingFixture.trainModel(in: dir))
        func scores(_ guards: [AdaptationGuard]) throws -> (base: [Double], tuned: [Double]) {
            var evaluation = FineTunedEvaluation(model: model, adaptation: Adaptation(steps: 3, learningRate: 0.5),
                                                 source: .evaluatedFile(fraction: 0.5))
            evaluation.guards = guards
            var stream = try CSVBatchStream(path: dir + "/good.csv", encoder: model.encoder)
            var recorder = ScoredRowsRecorder()
            _ = try evaluation.run(stream: &stream, recordingInto: &recorder)
            let names = try TaskKeyNames(path: dir + "/good.csv", column: "user")
            return (recorder.rows(fineTuned: false, names: names, taskNames: ["like"]).rows.map(\.score),
                    recorder.rows(fineTuned: true, names: names, taskNames: ["like"]).rows.map(\.score))
        }
        let free = try scores([.none])
        #expect(free.base != free.tuned, "unguarded, fine-tuning changes the scores")
        let refused = try scores([AdaptationGuard(labelRange: nil, margin: 0, maxRelativeChange: 1e-9)])
        #expect(refused.base == refused.tuned, "every update is outsized: the base towers score")
        #expect(refused.base == free.base)
    }

    @Test func `task-key names map the encoder's hashed keys back to the values as written`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-task-key-names")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/log.csv"
        try "ts,user,like\n1,\"Smith, J.\",1\n2,u2,0\n3,u2\n4,\"Smith, J.\",0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let names = try TaskKeyNames(path: path, column: "user")
        #expect(names.names == [FeatureKey.hash(feature: "user", value: "Smith, J."): "Smith, J.",
                                FeatureKey.hash(feature: "user", value: "u2"): "u2"])
        #expect(names.name(of: 0xab) == "#ab")
        #expect(throws: DataError.missingColumn(file: path, column: "uid", header: ["ts", "user", "like"])) {
            try TaskKeyNames(path: path, column: "uid")
        }
    }
}

