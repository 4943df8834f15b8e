import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import Testing

/// End to end: `meta.learn_inner_rates` trains Meta-SGD multipliers, writes them with the
/// model and a loaded model hands them to evaluation and serving.
@Suite struct MetaSGDTrainingTests {
    @Test func `training learns inner-rate multipliers and the model directory keeps them`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-meta-sgd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TrainingFixture.config
        config.meta.learnInnerRates = true
        config.meta.innerRatesLearningRate = 0.05
        config.training.epochs = 3
        let path = try TrainingFixture.trainModel(in: dir, config: config)
        let loaded = try LoadedModel(path: path)
        #expect(loaded.config.meta.learnInnerRates)
        let rates = try #require(loaded.parameters.innerRates(ofTask: 0))
        let start = loaded.parameters.towers[0].filled(with: 1)
        var moved: Float = 0
        for (r, one) in zip(rates.layers, start.layers) {
            #expect(r.weight.isFinite && r.bias.isFinite)
            moved = max(moved, (r.weight - one.weight).maxAbs(), (r.bias - one.bias).maxAbs())
        }
        #expect(moved > 0.01, "ρ moved by at most \(moved)")

        // Evaluation adapts with them: with every ρ set to 0 the fine-tuned towers are the base
        // towers, with the learned ρ they are not.
        let data = dir + "/good.csv"
        let evaluation = EvaluationJob(modelPath: path, dataPath: data)
        let learned = try evaluation.runFineTuned(source: .evaluatedFile(fraction: 0.5), steps: 3, learningRate: 0.5,
                                                  minimumSupportRows: 1).groups[0]
        #expect(learned.fineTuned != learned.base)
        let parametersPath = try ModelDirectory.resolve(path).parametersPath
        var (tensors, metadata) = try SafeTensors.decode(try Data(contentsOf: URL(fileURLWithPath: parametersPath)), path: parametersPath)
        for name in tensors.keys where name.hasPrefix("inner_rates.") { tensors[name]!.fill(0) }
        try SafeTensors.encode(tensors.map { (name: $0.key, tensor: $0.value) }, metadata: metadata)
            .write(to: URL(fileURLWithPath: parametersPath))
        try TrainingFixture.recordChecksums(of: path)  // a deliberate edit, not damage
        let frozen = try evaluation.runFineTuned(source: .evaluatedFile(fraction: 0.5), steps: 3, learningRate: 0.5,
                                                 minimumSupportRows: 1).groups[0]
        #expect(frozen.fineTuned == frozen.base)
    }

    @Test func `a warm start may switch learned rates on or off`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-meta-sgd-warm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plainDir = dir + "/plain", ratesDir = dir + "/rates"
        for d in [plainDir, ratesDir] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let plain = try TrainingFixture.trainModel(in: plainDir)
        #expect(try LoadedModel(path: plain).parameters.innerRates.isEmpty)
        var config = TrainingFixture.config
        config.meta.learnInnerRates = true
        // Plain MAML → Meta-SGD: the multipliers start at 1.
        let configPath = try TrainingFixture.writeConfig(config, in: ratesDir)
        var toRates = TrainingJob(configPath: configPath, trainingPath: plainDir + "/good.csv", validationPath: nil,
                                  outputDirectory: ratesDir + "/model")
        toRates.initialModel = plain
        try toRates.run(progress: ProgressReporter(quiet: true))
        let rates = try LoadedModel(path: ratesDir + "/model")
        #expect(!rates.parameters.innerRates.isEmpty)
        // And back: the multipliers are dropped.
        var back = TrainingJob(configPath: plainDir + "/config.yaml", trainingPath: plainDir + "/good.csv", validationPath: nil,
                               outputDirectory: plainDir + "/again")
        back.initialModel = ratesDir + "/model"
        try back.run(progress: ProgressReporter(quiet: true))
        #expect(try LoadedModel(path: plainDir + "/again").parameters.innerRates.isEmpty)
        // A model directory itself stays strict: its config and its tensors must agree.
        var probe = ModelParameters(spec: config.networkSpec, seed: 1)
        #expect(throws: CheckpointError.self) {
            probe = try ModelDirectory.resolve(plain).readParameters(like: probe).0
        }
    }
}
