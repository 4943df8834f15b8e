import Foundation
import MetaTrain
import Models
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

        // Without the key the model has no multipliers (plain MAML, ρ = 1).
        let plainDir = dir + "/plain"
        try FileManager.default.createDirectory(atPath: plainDir, withIntermediateDirectories: true)
        let plain = try LoadedModel(path: TrainingFixture.trainModel(in: plainDir))
        #expect(plain.parameters.innerRates.isEmpty)
    }
}
