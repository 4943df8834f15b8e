import Foundation
import MetaTrain
import ModelDescription
import Serving

/// A tiny model trained on a small synthetic-scenes log (3 scenes, 40 users, 1,500 rows, seed 4;
/// embedding 4, 2 experts [8], towers [4], 2 epochs, 1 thread), shaped by `configure` (the scene
/// machinery under test): the fixture of the scene models' serving tests.
enum SceneModelFixture {
    /// Trains the model into a fresh temporary directory (the caller removes `dir`) and returns
    /// it loaded with the log's test rows by column name.
    static func train(
        _ name: String, meta: Bool = true, validation: Bool = false, configure: (inout ModelConfig) -> Void
    ) throws -> (dir: String, loaded: LoadedModel, test: [[String: String]]) {
        let dir = NSTemporaryDirectory() + "metarec-\(name)-" + UUID().uuidString
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 3, zipfExponent: 1.5, users: 40, rows: 1_500, seed: 4), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.training.epochs = 2
        config.training.threads = 1
        config.meta.enabled = meta
        configure(&config)
        try config.validate()
        try config.yamlString().write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        try TrainingJob(configPath: dir + "/config.yaml", trainingPath: data + "/train.csv",
                        validationPath: validation ? data + "/validation.csv" : nil, outputDirectory: dir + "/model")
            .run(progress: ProgressReporter(quiet: true))
        let lines = try String(contentsOfFile: data + "/test.csv", encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
        return (dir, try LoadedModel(path: dir + "/model"), rows)
    }

    /// A request of `user` (fine-tuning off) whose candidates are `rows` of the test CSV.
    static func request(user: String, rows: [[String: String]], config: ModelConfig) -> ScoreRequest {
        let candidates: [[String: FeatureValue]] = rows.map { row in
            var c: [String: FeatureValue] = [:]
            for feature in config.features where feature.name != config.taskKey {
                if case .numeric = feature.kind { c[feature.name] = .number(Double(row[feature.name]!)!) } else { c[feature.name] = .string(row[feature.name]!) }
            }
            return c
        }
        return ScoreRequest(user: user, candidates: candidates, finetune: false)
    }
}
