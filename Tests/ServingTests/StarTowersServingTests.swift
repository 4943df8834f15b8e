import Foundation
import MetaTrain
import ModelDescription
import Serving
import Testing

/// Serving scores with the shared towers only (its packed and fine-tuning paths know no STAR
/// factors), so a model with `model.star_towers` is refused at load, never served wrong scores.
@Suite struct StarTowersServingTests {
    @Test func `a STAR model directory is refused by serving with a clear error`() throws {
        let dir = NSTemporaryDirectory() + "metarec-star-serving-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 3, zipfExponent: 1.5, users: 40, rows: 1_000, seed: 4), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.model.starTowers = .init(scenes: ["s01", "s02"])
        config.training.epochs = 1
        config.training.threads = 1
        config.meta.enabled = false
        try config.validate()
        try config.yamlString().write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        try TrainingJob(configPath: dir + "/config.yaml", trainingPath: data + "/train.csv", validationPath: nil, outputDirectory: dir + "/model")
            .run(progress: ProgressReporter(quiet: true))
        let loaded = try LoadedModel(path: dir + "/model")
        #expect {
            _ = try ServingModel(loaded)
        } throws: { error in
            let message = "\(error)"
            return message.contains("model.star_towers") && message.contains("metarec eval") && message.contains("config.yaml")
        }
    }
}
