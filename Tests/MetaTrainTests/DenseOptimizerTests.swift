import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import TestSupport
import Testing

@Suite struct DenseOptimizerTests {
    /// One config per accepted `training.optimizer` kind and setting that changes the formula.
    static let configuredKinds = [
        "{kind: adam}",
        "{kind: adam, learning_rate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1.0e-6, weight_decay: 0.05}",
        "{kind: adagrad, learning_rate: 0.1, initial_accumulator: 0.2, epsilon: 1.0e-7}",
        "{kind: sgd, learning_rate: 0.1}",
        "{kind: sgd, learning_rate: 0.1, weight_decay: 0.05}",
        "{kind: sgd, learning_rate: 0.1, momentum: 0.9, weight_decay: 0.01}",
    ]

    /// The `Config/README.md` formula of `optimizer`, one scalar at a time in Double; `a`, `b` are
    /// the two state slots (Adam's m and v; SGD's velocity; AdaGrad's accumulator, starting at G₀).
    static func referenceStep(_ optimizer: ModelConfig.Optimizer, theta: inout [Double], a: inout [Double], b: inout [Double],
                              g: [Double], t: Int) {
        for j in theta.indices {
            switch optimizer {
            case .adam(let s):
                a[j] = s.beta1 * a[j] + (1 - s.beta1) * g[j]
                b[j] = s.beta2 * b[j] + (1 - s.beta2) * g[j] * g[j]
                let mHat = a[j] / (1 - pow(s.beta1, Double(t))), vHat = b[j] / (1 - pow(s.beta2, Double(t)))
                theta[j] -= s.learningRate * (mHat / (vHat.squareRoot() + s.epsilon) + s.weightDecay * theta[j])
            case .adagrad(let s):
                if t == 1 { b[j] = s.initialAccumulator }
                b[j] += g[j] * g[j]
                theta[j] -= s.learningRate * g[j] / (b[j].squareRoot() + s.epsilon)
            case .sgd(let s):
                a[j] = s.momentum * a[j] + g[j] + s.weightDecay * theta[j]
                theta[j] -= s.learningRate * a[j]
            }
        }
    }

    @Test(arguments: configuredKinds)
    func `every configured optimiser kind steps by its written formula`(optimizerYAML: String) throws {
        let config = try ModelConfig.parse(yaml: """
            task_key: u
            features: [{name: u, kind: categorical}]
            labels: [{name: y, kind: binary}, {name: r, kind: regression}]
            model: {experts: 2, embedding_dim: 4, expert_layers: [5], tower_layers: [3]}
            training: {optimizer: \(optimizerYAML)}
            """, source: "optimizer.yaml")
        var parameters = ModelParameters(spec: config.networkSpec, seed: 4)
        var optimizer = DenseOptimizer(like: parameters, config: config)
        #expect(optimizer.rule.kindName == config.training.optimizer.kindName)
        var flat = parameters.namedTensors.map { $0.tensor.scalars.map(Double.init) }
        var a = flat.map { [Double](repeating: 0, count: $0.count) }, b = a
        // Two steps, so the state (moments, velocity, accumulator) carried between steps counts.
        for t in 1...2 {
            var gradients = ModelParameters.zeros(like: parameters)
            var i = 0
            gradients.updateEachTensor { _, g in g = randomTensor(g.shape, seed: UInt64(31 * t + i)); i += 1 }
            optimizer.update(&parameters, gradients: gradients)
            for (k, (_, g)) in gradients.namedTensors.enumerated() {
                Self.referenceStep(config.training.optimizer, theta: &flat[k], a: &a[k], b: &b[k], g: g.scalars.map(Double.init), t: t)
            }
        }
        for (k, (name, tensor)) in parameters.namedTensors.enumerated() {
            expectClose(tensor, Tensor(shape: tensor.shape, scalars: flat[k].map(Float.init)), rtol: 1e-4, atol: 1e-6, name)
        }
    }

    @Test func `a checkpoint keeps the optimiser's state and refuses to resume under another kind`() throws {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 5, bottomWidths: [4], towerWidths: [3], taskCount: 1)
        var parameters = ModelParameters(spec: spec, seed: 6)
        var sgd = DenseOptimizer(like: parameters, learningRate: 0.1, rule: .sgd(momentum: 0.9, weightDecay: 0))
        var gradients = ModelParameters.zeros(like: parameters)
        gradients.updateEachTensor { _, g in g = randomTensor(g.shape, seed: 8) }
        sgd.update(&parameters, gradients: gradients)
        let dir = NSTemporaryDirectory() + "dense-optimizer-checkpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoint = TrainingCheckpoint(modelDirectory: dir, saveEmbeddings: { try Data().write(to: URL(fileURLWithPath: $0)) },
                                            loadEmbeddings: { _ in })
        try checkpoint.save(parameters: parameters, optimizer: sgd, state: TrainingState())
        var restored = ModelParameters(spec: spec, seed: 7)
        var again = DenseOptimizer(like: restored, learningRate: 0.1, rule: .sgd(momentum: 0.9, weightDecay: 0))
        _ = try checkpoint.restore(parameters: &restored, optimizer: &again)
        #expect(restored == parameters && again.m == sgd.m && again.step == 1)
        var adam = DenseOptimizer(like: restored, learningRate: 0.1)
        #expect {
            _ = try checkpoint.restore(parameters: &restored, optimizer: &adam)
        } throws: { error in
            "\(error)".contains("checkpoint holds sgd optimiser state; training.optimizer is adam")
        }
    }

    @Test func `SGD is not Adam: one plain SGD step moves each weight by exactly lr times its gradient`() throws {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [4], towerWidths: [3], taskCount: 1)
        var parameters = ModelParameters(spec: spec, seed: 5)
        let before = parameters
        var sgd = DenseOptimizer(like: parameters, learningRate: 0.1, rule: .sgd(momentum: 0, weightDecay: 0))
        var gradients = ModelParameters.zeros(like: parameters)
        gradients.updateEachTensor { _, g in g.fill(3) }
        sgd.update(&parameters, gradients: gradients)
        // Adam's first step would move by lr = 0.1; SGD moves by lr · g = 0.3.
        let moved = before.towers[0].layers[0].weight - parameters.towers[0].layers[0].weight
        #expect(abs(moved.maxAbs() - 0.3) < 1e-5)
        #expect(abs(moved.scalars.min()! - 0.3) < 1e-5)
    }

    /// Adam written plainly in Double, one scalar at a time.
    static func referenceStep(theta: inout [Double], m: inout [Double], v: inout [Double], g: [Double], t: Int,
                              lr: Double, b1: Double, b2: Double, eps: Double, wd: Double) {
        for j in theta.indices {
            m[j] = b1 * m[j] + (1 - b1) * g[j]
            v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
            let update = (m[j] / (1 - pow(b1, Double(t)))) / ((v[j] / (1 - pow(b2, Double(t)))).squareRoot() + eps)
            theta[j] -= lr * (update + wd * theta[j])
        }
    }

    @Test func `matches a plain Double reference over several steps, vector lanes and tails alike`() {
        // Widths 13 and 7 exercise both the 8-lane body and the scalar tail.
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 13, bottomWidths: [7], towerWidths: [5], taskCount: 2)
        var parameters = ModelParameters(spec: spec, seed: 1)
        var adam = DenseOptimizer(like: parameters, learningRate: 0.01, weightDecay: 0.001)
        var flat = parameters.namedTensors.map { $0.tensor.scalars.map(Double.init) }
        var m = flat.map { [Double](repeating: 0, count: $0.count) }, v = m
        for t in 1...5 {
            var gradients = ModelParameters.zeros(like: parameters)
            var i = 0
            gradients.updateEachTensor { _, g in g = randomTensor(g.shape, seed: UInt64(100 * t + i)); i += 1 }
            adam.update(&parameters, gradients: gradients)
            for (k, (_, g)) in gradients.namedTensors.enumerated() {
                Self.referenceStep(theta: &flat[k], m: &m[k], v: &v[k], g: g.scalars.map(Double.init), t: t,
                                   lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.001)
            }
        }
        for (k, (name, tensor)) in parameters.namedTensors.enumerated() {
            expectClose(tensor, Tensor(shape: tensor.shape, scalars: flat[k].map(Float.init)), rtol: 1e-4, atol: 1e-6, name)
        }
    }

    @Test func `inner-rate multipliers are not weight-decayed; the towers are`() {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [4], towerWidths: [3],
                               taskCount: 2, learnsInnerRates: true)
        var parameters = ModelParameters(spec: spec, seed: 2)
        let before = parameters
        var adam = DenseOptimizer(like: parameters, learningRate: 0.01, weightDecay: 0.1)
        for _ in 0..<3 { adam.update(&parameters, gradients: .zeros(like: parameters)) }
        #expect(parameters.innerRates == before.innerRates)
        #expect(parameters.towers != before.towers)
    }

    @Test func `inner-rate multipliers take their own learning rate`() {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [4], towerWidths: [3],
                               taskCount: 2, learnsInnerRates: true)
        var parameters = ModelParameters(spec: spec, seed: 3)
        let before = parameters
        var adam = DenseOptimizer(like: parameters, learningRate: 0.001, innerRatesLearningRate: 0.05)
        var gradients = ModelParameters.zeros(like: parameters)
        gradients.updateEachTensor { _, g in g.fill(2) }
        adam.update(&parameters, gradients: gradients)
        // Adam's first step moves every scalar by its learning rate against the gradient's sign.
        for (k, rates) in parameters.innerRates.enumerated() {
            expectClose(rates.layers[0].weight, before.innerRates[k].layers[0].weight - Tensor(shape: rates.layers[0].weight.shape,
                        scalars: Array(repeating: 0.05, count: rates.layers[0].weight.count)), rtol: 1e-5, atol: 1e-6, "ρ")
        }
        let moved = parameters.towers[0].layers[0].weight - before.towers[0].layers[0].weight
        #expect(abs(moved.maxAbs() - 0.001) < 1e-5)
    }
}

#if canImport(Glibc)
import Glibc
#endif
