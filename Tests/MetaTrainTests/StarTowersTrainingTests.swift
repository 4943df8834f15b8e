import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import Testing

/// STAR towers end to end: a tiny model with `model.star_towers` and MAML trained on a small
/// synthetic-scenes log; the factors move, `metarec eval` scores each row with its scene's tower
/// (the network pass and the fine-tuned evaluation's per-task towers agree). Serving is tested in
/// `ServingTests/StarTowersServingTests`.
@Suite struct StarTowersTrainingTests {
    @Test func `a STAR model trains with MAML and evaluates with its scenes' towers`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-star")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 4, zipfExponent: 1.5, users: 80, rows: 3_000, seed: 3), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.model.starTowers = .init(scenes: ["s01", "s02", "s03"])  // s04 is left to the shared towers
        config.training.epochs = 1
        config.training.threads = 2
        config.meta.enabled = true
        try config.validate()
        let configPath = try TrainingFixture.writeConfig(config, in: dir)
        try TrainingJob(configPath: configPath, trainingPath: data + "/train.csv", validationPath: nil, outputDirectory: dir + "/model")
            .run(progress: ProgressReporter(quiet: true))

        let loaded = try LoadedModel(path: dir + "/model")
        #expect(loaded.config.model.starTowers?.scenes == ["s01", "s02", "s03"])
        #expect(loaded.parameters.starTowers.count == 2 && loaded.parameters.starTowers.allSatisfy { $0.count == 3 })
        #expect(loaded.parameters.starTowers.allSatisfy { scenes in
            scenes.allSatisfy { f in f.layers.contains { $0.weight.scalars.contains { $0 != 1 } || $0.bias.scalars.contains { $0 != 0 } } }
        }, "every scene's factors were trained")

        let (network, perTask) = try TrainingFixture.baseScoresBothWays(modelPath: dir + "/model", dataPath: data + "/test.csv")
        #expect(network.keys.sorted() == perTask.keys.sorted() && !network.isEmpty)
        var worst = 0.0
        for (key, scores) in network {
            for (a, b) in zip(scores, perTask[key]!) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst < 1e-5, "the network's STAR pass and the per-task scene towers score alike (worst \(worst))")

    }
}

/// A warm start keeps per-scene parameters by position: a config listing the scenes in another
/// order is refused, naming the key, instead of loading one scene's factors into another's.
@Suite struct SceneWarmStartTests {
    @Test func `a warm start with the scenes in another order is refused; the same list and switching STAR on are not`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-star-warm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 3, zipfExponent: 1.5, users: 30, rows: 800, seed: 5), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.training.epochs = 1
        config.meta.enabled = false
        func train(_ config: ModelConfig, name: String, from initial: String?) throws {
            try config.validate()
            let path = dir + "/\(name).yaml"
            try config.yamlString().write(toFile: path, atomically: true, encoding: .utf8)
            var job = TrainingJob(configPath: path, trainingPath: data + "/train.csv", validationPath: nil, outputDirectory: dir + "/" + name)
            job.initialModel = initial
            try job.run(progress: ProgressReporter(quiet: true))
        }
        try train(config, name: "plain", from: nil)
        config.model.starTowers = .init(scenes: ["s01", "s02", "s03"])
        try train(config, name: "star", from: dir + "/plain")  // switching STAR on over a plain model
        try train(config, name: "again", from: dir + "/star")  // the same list
        config.model.starTowers = .init(scenes: ["s02", "s01", "s03"])
        #expect {
            try train(config, name: "reordered", from: dir + "/star")
        } throws: { error in
            guard case ConfigError.invalidValue(_, let keyPath, _, let reason) = error else { return false }
            return keyPath == "--init" && reason.contains("model.star_towers.scenes") && reason.contains("same order")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/reordered/CURRENT"), "nothing was published")
    }
}
