import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import TestSupport
import Testing

@Suite struct AdamOptimizerTests {
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
        var adam = AdamOptimizer(like: parameters, learningRate: 0.01, weightDecay: 0.001)
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
        var adam = AdamOptimizer(like: parameters, learningRate: 0.01, weightDecay: 0.1)
        for _ in 0..<3 { adam.update(&parameters, gradients: .zeros(like: parameters)) }
        #expect(parameters.innerRates == before.innerRates)
        #expect(parameters.towers != before.towers)
    }

    @Test func `inner-rate multipliers take their own learning rate`() {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [4], towerWidths: [3],
                               taskCount: 2, learnsInnerRates: true)
        var parameters = ModelParameters(spec: spec, seed: 3)
        let before = parameters
        var adam = AdamOptimizer(like: parameters, learningRate: 0.001, innerRatesLearningRate: 0.05)
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
