import ModelMath
import TensorCore
import TestSupport
import Testing

/// Meta-SGD rate multipliers `ρ` (inner step `θ ← θ − α·ρ ⊙ ∇L_S`): `ρ = 1` is plain MAML, the
/// fused tower step agrees with the generic one, and `∂L_meta/∂ρ` matches finite differences.
@Suite struct MetaSGDTests {
    typealias T = TowerTests

    /// Multipliers in [0.5, 1.5), shaped like `tower`.
    static func rates(like tower: MLPParameters, seed: UInt64) -> MLPParameters {
        var rng = SeededRandom(seed: seed)
        var out = tower.zeros()
        for l in out.layers.indices {
            out.layers[l].weight = Tensor(shape: out.layers[l].weight.shape,
                                          scalars: (0..<out.layers[l].weight.count).map { _ in 0.5 + rng.nextUniform() })
            out.layers[l].bias = Tensor(shape: out.layers[l].bias.shape,
                                        scalars: (0..<out.layers[l].bias.count).map { _ in 0.5 + rng.nextUniform() })
        }
        return out
    }

    static func objective(_ theta: MLPParameters, rates: MLPParameters, support: Tensor, supportLabels: Tensor,
                          query: Tensor, queryLabels: Tensor, kind: TaskKind, adaptation: Adaptation) -> Double {
        var ws = TowerWorkspace()
        let adapted = Tower(parameters: theta, rates: rates, kind: kind, activation: .tanh).adapted(on: support, labels: supportLabels, policy: adaptation, workspace: &ws).parameters
        return TowerObjective.loss(Tower(parameters: adapted, rates: nil, kind: kind, activation: .tanh), input: query, labels: queryLabels, workspace: &ws)
    }

    @Test(arguments: [MetaOrder.first, .second])
    func `multipliers of one are plain MAML`(order: MetaOrder) {
        let theta = T.tower(seed: 40)
        let support = randomTensor([6, 5], seed: 41), query = randomTensor([4, 5], seed: 42)
        let ys = T.labels(6, kind: .binary, seed: 43), yq = T.labels(4, kind: .binary, seed: 44)
        let adaptation = Adaptation(steps: 2, learningRate: 0.3)
        var ws = TowerWorkspace()
        let plain = MetaGradient.compute(for: Tower(parameters: theta, rates: nil, kind: .binary, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: order, workspace: &ws)
        let ones = MetaGradient.compute(for: Tower(parameters: theta, rates: theta.filled(with: 1), kind: .binary, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: order, workspace: &ws)
        #expect(plain.rates == nil)
        #expect(ones.rates != nil)
        #expect(T.relativeError(ones.tower, plain.tower) < 1e-6)
        #expect(T.relativeError(ones.query, plain.query) < 1e-6)
        #expect((ones.support - plain.support).maxAbs() < 1e-6)
        #expect(abs(ones.queryLoss - plain.queryLoss) < 1e-9)
    }

    @Test(arguments: [TaskKind.binary, .regression], [Activation.relu, .tanh])
    func `the fused step with multipliers equals the generic one`(kind: TaskKind, activation: Activation) {
        for (s, h, t) in [(1, 5, 3), (9, 13, 8), (64, 32, 32)] {
            let base = TwoLayerTowerTests.tower(h: h, t: t, seed: UInt64(s + 3 * t))
            let rho = Self.rates(like: base, seed: UInt64(h))
            let support = randomTensor([s, h], seed: UInt64(s * h))
            let y = s == 1 ? Tensor(shape: [1], scalars: [1]) : TwoLayerTowerTests.labels(s, kind: kind, seed: 5)
            let adaptation = Adaptation(steps: 3, learningRate: 0.2)
            var ws = TowerWorkspace()
            let fused = Tower(parameters: base, rates: rho, kind: kind, activation: activation).adapted(on: support, labels: y, policy: adaptation, workspace: &ws).parameters
            var generic = base
            for _ in 0..<3 {
                TowerObjective.gradient(Tower(parameters: generic, rates: nil, kind: kind, activation: activation), input: support, labels: y, inputGradient: false, workspace: &ws)
                let g = ws.gradientsForTesting!
                for l in generic.layers.indices {
                    generic.layers[l].weight = generic.layers[l].weight - 0.2 * (rho.layers[l].weight .* g.layers[l].weight)
                    generic.layers[l].bias = generic.layers[l].bias - 0.2 * (rho.layers[l].bias .* g.layers[l].bias)
                }
            }
            for l in 0..<2 {
                expectClose(fused.layers[l].weight, generic.layers[l].weight, rtol: 1e-4, atol: 1e-5, "S \(s) W\(l)")
                expectClose(fused.layers[l].bias, generic.layers[l].bias, rtol: 1e-4, atol: 1e-5, "S \(s) b\(l)")
            }
            let plain = Tower(parameters: base, rates: nil, kind: kind, activation: activation).adapted(on: support, labels: y, policy: adaptation, workspace: &ws).parameters
            #expect(T.relativeError(fused, plain) > 1e-4, "multipliers must change the step")
        }
    }

    /// Second order is exact in θ, ρ and f; first order is exact in ρ for one step (θ_1 is
    /// linear in ρ and s_0 does not depend on it), and its θ part is checked in AdaptationTests.
    @Test(arguments: [TaskKind.binary, .regression], [1, 2])
    func `rate gradients match finite differences of the whole objective`(kind: TaskKind, steps: Int) {
        let theta = T.tower(seed: 50)
        let rho = Self.rates(like: theta, seed: 51)
        let support = randomTensor([6, 5], seed: 52), query = randomTensor([5, 5], seed: 53)
        let ys = T.labels(6, kind: kind, seed: 54), yq = T.labels(5, kind: kind, seed: 55)
        let adaptation = Adaptation(steps: steps, learningRate: 0.4)
        let objective = { (p: MLPParameters, r: MLPParameters, s: Tensor) in
            Self.objective(p, rates: r, support: s, supportLabels: ys, query: query, queryLabels: yq, kind: kind,
                           adaptation: adaptation)
        }
        var ws = TowerWorkspace()
        let second = MetaGradient.compute(for: Tower(parameters: theta, rates: rho, kind: kind, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: .second, workspace: &ws)
        let numericRates = T.towerGradient(of: { objective(theta, $0, support) }, at: rho)
        #expect(T.relativeError(try! #require(second.rates), numericRates) < 1e-3, "ρ, second order")
        let numericTower = T.towerGradient(of: { objective($0, rho, support) }, at: theta)
        #expect(T.relativeError(second.tower, numericTower) < 1e-3, "θ, second order")
        let numericSupport = TestSupport.numericalGradient(of: { objective(theta, rho, $0) }, at: support)
        #expect(T.relativeError(second.support, numericSupport) < 1e-3, "support rows, second order")

        let first = MetaGradient.compute(for: Tower(parameters: theta, rates: rho, kind: kind, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: .first, workspace: &ws)
        let firstError = T.relativeError(try! #require(first.rates), numericRates)
        if steps == 1 {
            #expect(firstError < 1e-3, "ρ, first order, one step")
        } else {
            #expect(firstError > 1e-3, "first order drops the later steps' dependence on ρ")
        }
    }
}
