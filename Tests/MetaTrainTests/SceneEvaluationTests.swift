import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Testing

/// `EvaluationJob.runPerUser` with a `scene` column, end to end: a small synthetic-scenes log, a
/// tiny model, and the per-scene figures recomputed naively from the scored rows (each synthetic
/// user lives in one scene, so a scored row's scene is its user's).
@Suite struct SceneEvaluationTests {
    @Test func `per-scene metrics of a trained model equal those recomputed from its scored rows`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-scene-eval")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 6, zipfExponent: 1.5, users: 120, rows: 4_000, seed: 2), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        #expect(config.scene == "scene" && config.sceneCategoricalIndex == 1)
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.training.epochs = 1
        config.training.threads = 1
        config.meta.enabled = false
        let configPath = try TrainingFixture.writeConfig(config, in: dir)
        try TrainingJob(configPath: configPath, trainingPath: data + "/train.csv", validationPath: nil, outputDirectory: dir + "/model")
            .run(progress: ProgressReporter(quiet: true))

        let result = try EvaluationJob(modelPath: dir + "/model", dataPath: data + "/test.csv").runPerUser(options: PerUserOptions(ks: [5], resamples: 10))
        let scenes = try #require(result.scenes)
        #expect(scenes.column == "scene")
        // The naive reference: the scene of each user, from the CSV.
        let csv = try String(contentsOfFile: data + "/test.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        var sceneOfUser: [String: String] = [:], rowsOfScene: [String: Int] = [:]
        for row in csv {
            sceneOfUser[String(row[0])] = String(row[1])
            rowsOfScene[String(row[1]), default: 0] += 1
        }
        #expect(scenes.scenes.map(\.name) == rowsOfScene.keys.sorted { (rowsOfScene[$0]!, $1) > (rowsOfScene[$1]!, $0) })
        for group in scenes.scenes {
            #expect(group.rows == rowsOfScene[group.name])
            #expect(group.isSmall == (Double(group.rows) < 0.05 * Double(csv.count)))
            for (k, task) in result.tasks.enumerated() {
                let rows = result.base.rows.filter { $0.task == task && sceneOfUser[$0.user] == group.name }
                #expect(group.tasks[k].auc == RankingMetrics.auc(labels: rows.map(\.label), scores: rows.map(\.score)) ?? .nan
                        || (group.tasks[k].auc!.isNaN && RankingMetrics.auc(labels: rows.map(\.label), scores: rows.map(\.score)) == nil))
                var users: [String: UserRows] = [:]
                for row in rows { users[row.user, default: UserRows()].append(label: row.label, score: row.score) }
                let gauc = PerUserValues(metric: .gauc, users: users, scale: .binary)
                #expect(group.gauc[k]?.users == gauc.users && group.gauc[k]?.skipped == gauc.skipped)
                if gauc.users > 0 { #expect(abs(group.gauc[k]!.mean - gauc.mean) < 1e-12) }
            }
        }
        #expect(scenes.pools.reduce(0) { $0 + $1.rows } == csv.count)
    }
}
