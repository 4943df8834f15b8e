import ModelMath
import TensorCore
import TestSupport
import Testing

/// The MAML inner loop and meta-gradients on a tower (smooth tanh activation so finite
/// differences do not straddle ReLU kinks).
@Suite struct TowerTests {
    static func tower(seed: UInt64, widths: [Int] = [5, 4, 3, 1]) -> MLPParameters {
        var rng = SeededRandom(seed: seed)
        return MLPParameters(widths: widths, activatesLast: false, using: &rng)
    }

    static func labels(_ count: Int, kind: TaskKind, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor(shape: [count], scalars: (0..<count).map { i in
            if i == 1 { return .nan }  // one missing label
            return kind == .binary ? (rng.nextUniform() < 0.5 ? 0 : 1) : rng.nextNormal()
        })
    }

    /// `L_Q(θ − α∇L_S(θ))` after `steps` inner steps, in Double.
    static func metaObjective(_ theta: MLPParameters, support: Tensor, supportLabels: Tensor, query: Tensor,
                              queryLabels: Tensor, kind: TaskKind, adaptation: Adaptation) -> Double {
        var ws = TowerWorkspace()
        let adapted = Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh).adapted(on: support, labels: supportLabels, policy: adaptation, workspace: &ws).parameters
        return TowerObjective.loss(Tower(parameters: adapted, rates: nil, kind: kind, activation: .tanh), input: query, labels: queryLabels, workspace: &ws)
    }

    /// `‖a − b‖ / ‖b‖` over all tensors of two towers.
    static func relativeError(_ a: MLPParameters, _ b: MLPParameters) -> Double {
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a.layers, b.layers) {
            for (p, q) in zip(x.weight.scalars + x.bias.scalars, y.weight.scalars + y.bias.scalars) {
                diff += Double(p - q) * Double(p - q)
                norm += Double(q) * Double(q)
            }
        }
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    static func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        let diff = (a - b).squaredNorm(), norm = b.squaredNorm()
        return (diff / max(norm, 1e-30)).squareRoot()
    }

    /// Central differences of `objective` over every scalar of the tower, step h.
    static func towerGradient(of objective: (MLPParameters) -> Double, at theta: MLPParameters, h: Float = 1e-2) -> MLPParameters {
        var grad = theta.zeros()
        for l in theta.layers.indices {
            grad.layers[l].weight = TestSupport.numericalGradient(of: { w in
                var p = theta; p.layers[l].weight = w; return objective(p)
            }, at: theta.layers[l].weight, step: h)
            grad.layers[l].bias = TestSupport.numericalGradient(of: { b in
                var p = theta; p.layers[l].bias = b; return objective(p)
            }, at: theta.layers[l].bias, step: h)
        }
        return grad
    }

    @Test func `a clone equals the original and adapting it leaves the original alone`() {
        let theta = Self.tower(seed: 1)
        var fast = theta
        #expect(fast == theta)
        var ws = TowerWorkspace()
        fast = Tower(parameters: fast, rates: nil, kind: .binary, activation: .tanh).adapted(on: randomTensor([6, 5], seed: 2), labels: Self.labels(6, kind: .binary, seed: 3), policy: Adaptation(steps: 1, learningRate: 0.5), workspace: &ws).parameters
        #expect(fast != theta)
        #expect(theta == Self.tower(seed: 1))
    }

    @Test func `zero steps is the identity and empty support changes nothing`() {
        let theta = Self.tower(seed: 4)
        var ws = TowerWorkspace()
        let support = randomTensor([6, 5], seed: 5)
        #expect(Tower(parameters: theta, rates: nil, kind: .binary, activation: .tanh).adapted(on: support, labels: Self.labels(6, kind: .binary, seed: 6), policy: Adaptation(steps: 0, learningRate: 0.5), workspace: &ws).parameters == theta)
        #expect(Tower(parameters: theta, rates: nil, kind: .binary, activation: .tanh).adapted(on: Tensor(shape: [0, 5]), labels: Tensor(shape: [0]), policy: Adaptation(steps: 3, learningRate: 0.5), workspace: &ws).parameters == theta)
        let unlabelled = Tensor(shape: [6], repeating: .nan)
        #expect(Tower(parameters: theta, rates: nil, kind: .binary, activation: .tanh).adapted(on: support, labels: unlabelled, policy: Adaptation(steps: 3, learningRate: 0.5), workspace: &ws).parameters == theta)
    }

    @Test(arguments: [TaskKind.binary, .regression], [Activation.tanh, .relu])
    func `one inner step lowers the support loss`(kind: TaskKind, activation: Activation) {
        let theta = Self.tower(seed: 7)
        let support = randomTensor([8, 5], seed: 8), labels = Self.labels(8, kind: kind, seed: 9)
        var ws = TowerWorkspace()
        let before = TowerObjective.loss(Tower(parameters: theta, rates: nil, kind: kind, activation: activation), input: support, labels: labels, workspace: &ws)
        let adapted = Tower(parameters: theta, rates: nil, kind: kind, activation: activation).adapted(on: support, labels: labels, policy: Adaptation(steps: 1, learningRate: 0.05), workspace: &ws).parameters
        let after = TowerObjective.loss(Tower(parameters: adapted, rates: nil, kind: kind, activation: activation), input: support, labels: labels, workspace: &ws)
        #expect(after < before, "support loss \(before) → \(after)")
    }

    @Test(arguments: [TaskKind.binary, .regression])
    func `tower gradients match finite differences`(kind: TaskKind) {
        let theta = Self.tower(seed: 10)
        let f = randomTensor([7, 5], seed: 11), y = Self.labels(7, kind: kind, seed: 12)
        var ws = TowerWorkspace()
        TowerObjective.gradient(Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), input: f, labels: y, inputGradient: true, workspace: &ws)
        let analytic = try! #require(ws.gradientsForTesting)
        let numeric = Self.towerGradient(of: { p in
            var w = TowerWorkspace()
            return TowerObjective.loss(Tower(parameters: p, rates: nil, kind: kind, activation: .tanh), input: f, labels: y, workspace: &w)
        }, at: theta)
        #expect(Self.relativeError(analytic, numeric) < 1e-3)
        let dInput = TestSupport.numericalGradient(of: { probe in
            var w = TowerWorkspace()
            return TowerObjective.loss(Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), input: probe, labels: y, workspace: &w)
        }, at: f)
        #expect(Self.relativeError(ws.inputGradientForTesting!, dInput) < 1e-3)
    }

    @Test(arguments: [TaskKind.binary, .regression])
    func `hessian vector products match finite differences of the gradient`(kind: TaskKind) {
        let theta = Self.tower(seed: 13)
        let f = randomTensor([6, 5], seed: 14), y = Self.labels(6, kind: kind, seed: 15)
        let v = Self.tower(seed: 16)
        let (hv, mixed) = TowerHessian.hessianVectorProduct(Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), input: f, labels: y, direction: v)
        // ψ(θ) = ⟨∇L(θ), v⟩, so ∇θψ = Hv and ∇fψ = mixed.
        func psi(_ p: MLPParameters, _ input: Tensor) -> Double {
            var w = TowerWorkspace()
            TowerObjective.gradient(Tower(parameters: p, rates: nil, kind: kind, activation: .tanh), input: input, labels: y, inputGradient: false, workspace: &w)
            let g = w.gradientsForTesting!
            var s = 0.0
            for (a, b) in zip(g.layers, v.layers) {
                s += weightedSum(a.weight, b.weight) + weightedSum(a.bias, b.bias)
            }
            return s
        }
        let numericHV = Self.towerGradient(of: { psi($0, f) }, at: theta)
        #expect(Self.relativeError(hv, numericHV) < 2e-3)
        let numericMixed = TestSupport.numericalGradient(of: { psi(theta, $0) }, at: f)
        #expect(Self.relativeError(mixed, numericMixed) < 2e-3)
    }

    @Test(arguments: [TaskKind.binary, .regression])
    func `first-order meta-gradient is the query gradient at the adapted weights`(kind: TaskKind) {
        let theta = Self.tower(seed: 17)
        let support = randomTensor([6, 5], seed: 18), query = randomTensor([4, 5], seed: 19)
        let ys = Self.labels(6, kind: kind, seed: 20), yq = Self.labels(4, kind: kind, seed: 21)
        let adaptation = Adaptation(steps: 2, learningRate: 0.3)
        var ws = TowerWorkspace()
        let meta = MetaGradient.compute(for: Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: .first, workspace: &ws)
        let adapted = Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh).adapted(on: support, labels: ys, policy: adaptation, workspace: &ws).parameters
        TowerObjective.gradient(Tower(parameters: adapted, rates: nil, kind: kind, activation: .tanh), input: query, labels: yq, inputGradient: true, workspace: &ws)
        #expect(meta.tower == ws.gradientsForTesting!)
        #expect(meta.query == ws.inputGradientForTesting!)
        #expect(meta.support.maxAbs() == 0)
    }

    @Test(arguments: [TaskKind.binary, .regression], [1, 2])
    func `second-order meta-gradient matches finite differences of the whole objective`(kind: TaskKind, steps: Int) {
        let theta = Self.tower(seed: 22)
        let support = randomTensor([6, 5], seed: 23), query = randomTensor([5, 5], seed: 24)
        let ys = Self.labels(6, kind: kind, seed: 25), yq = Self.labels(5, kind: kind, seed: 26)
        let adaptation = Adaptation(steps: steps, learningRate: 0.4)
        var ws = TowerWorkspace()
        let meta = MetaGradient.compute(for: Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: .second, workspace: &ws)
        let objective = { (p: MLPParameters, s: Tensor, q: Tensor) in
            Self.metaObjective(p, support: s, supportLabels: ys, query: q, queryLabels: yq, kind: kind, adaptation: adaptation)
        }
        let numericTower = Self.towerGradient(of: { objective($0, support, query) }, at: theta)
        #expect(Self.relativeError(meta.tower, numericTower) < 1e-3, "tower")
        let numericSupport = TestSupport.numericalGradient(of: { objective(theta, $0, query) }, at: support)
        #expect(Self.relativeError(meta.support, numericSupport) < 1e-3, "support rows (reach the shared bottom)")
        let numericQuery = TestSupport.numericalGradient(of: { objective(theta, support, $0) }, at: query)
        #expect(Self.relativeError(meta.query, numericQuery) < 1e-3, "query rows")
        // And first order really differs from it (the test can tell the two apart).
        let first = MetaGradient.compute(for: Tower(parameters: theta, rates: nil, kind: kind, activation: .tanh), support: LabelledRows(features: support, labels: ys), query: LabelledRows(features: query, labels: yq), policy: adaptation, order: .first, workspace: &ws)
        #expect(Self.relativeError(first.tower, numericTower) > 1e-2)
    }
}

/// The policy's loss and layer mask through the whole meta-gradient, and a ridge head.
extension TowerTests {
    static let policies: [Adaptation] = [
        Adaptation(steps: 2, learningRate: 0.4, loss: .pairwise(pointwiseWeight: 0)),
        Adaptation(steps: 2, learningRate: 0.4, loss: .listwise(pointwiseWeight: 0.5)),
        Adaptation(steps: 2, learningRate: 0.4, loss: .pointwise, adapts: .output),
        Adaptation(steps: 2, learningRate: 0.4, loss: .pairwise(pointwiseWeight: 0.2), adapts: .hidden),
    ]

    @Test(arguments: [TaskKind.binary, .regression], policies)
    func `second-order meta-gradient of every inner loss and layer mask matches finite differences`(kind: TaskKind, policy: Adaptation) {
        let theta = Self.tower(seed: 32)
        let support = randomTensor([6, 5], seed: 33), query = randomTensor([5, 5], seed: 34)
        let ys = Self.labels(6, kind: kind, seed: 35), yq = Self.labels(5, kind: kind, seed: 36)
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: kind, activation: .tanh)
        let meta = MetaGradient.compute(for: tower, support: LabelledRows(features: support, labels: ys),
                                        query: LabelledRows(features: query, labels: yq), policy: policy, order: .second,
                                        workspace: &ws)
        let objective = { (p: MLPParameters, s: Tensor) in
            Self.metaObjective(p, support: s, supportLabels: ys, query: query, queryLabels: yq, kind: kind, adaptation: policy)
        }
        let numericTower = Self.towerGradient(of: { objective($0, support) }, at: theta)
        #expect(Self.relativeError(meta.tower, numericTower) < 2e-3, "tower")
        let numericSupport = TestSupport.numericalGradient(of: { objective(theta, $0) }, at: support)
        #expect(Self.relativeError(meta.support, numericSupport) < 2e-3, "support rows")
    }

    @Test(arguments: [TaskKind.binary, .regression])
    func `a layer mask leaves the other layers untouched`(kind: TaskKind) {
        let theta = Self.tower(seed: 40)
        let f = randomTensor([8, 5], seed: 41), y = Self.labels(8, kind: kind, seed: 42)
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: kind, activation: .tanh)
        let last = theta.layers.count - 1
        let output = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 3, learningRate: 0.3, adapts: .output),
                                   workspace: &ws).parameters
        #expect(Array(output.layers[..<last]) == Array(theta.layers[..<last]))
        #expect(output.layers[last] != theta.layers[last])
        let hidden = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 3, learningRate: 0.3, adapts: .hidden),
                                   workspace: &ws).parameters
        #expect(hidden.layers[last] == theta.layers[last])
        #expect(hidden.layers[0] != theta.layers[0])
    }

    @Test func `a ranking loss never moves the output bias`() {
        let theta = Self.tower(seed: 43, widths: [5, 6, 1])  // the fused two-layer path
        let f = randomTensor([9, 5], seed: 44), y = Self.labels(9, kind: .regression, seed: 45)
        var ws = TowerWorkspace()
        let adapted = Tower(parameters: theta, kind: .regression, activation: .relu)
            .adapted(on: f, labels: y, policy: Adaptation(steps: 5, learningRate: 0.5, loss: .pairwise(pointwiseWeight: 0)),
                     workspace: &ws).parameters
        #expect(abs(adapted.layers[1].bias.scalars[0] - theta.layers[1].bias.scalars[0]) < 1e-6)
        #expect(adapted.layers[0].weight != theta.layers[0].weight)
    }
}

@Suite struct AdaptationGuardTests {
    @Test func `the update bound is relative to the tower's norm`() {
        let theta = TowerTests.tower(seed: 60)
        var moved = theta
        moved.layers[0].weight.addScaled(theta.layers[0].weight, by: 0.5)   // ‖Δ‖ = 0.5 ‖W0‖ < ‖θ‖
        #expect(AdaptationGuard(labelRange: nil, margin: 0, maxRelativeChange: 0.5).acceptsUpdate(from: theta, to: moved))
        var far = theta
        for l in far.layers.indices { far.layers[l].weight.addScaled(theta.layers[l].weight, by: 2) }
        #expect(!AdaptationGuard(labelRange: nil, margin: 0, maxRelativeChange: 1).acceptsUpdate(from: theta, to: far))
        #expect(AdaptationGuard.none.acceptsUpdate(from: theta, to: far))
    }

    @Test func `predictions are checked against the widened label range`() {
        let guardRange = AdaptationGuard(labelRange: 1...5, margin: 0.5, maxRelativeChange: 1)
        #expect(guardRange.predictionRange == -1...7)
        #expect(guardRange.acceptsPredictions([0, 6.9, 3], count: 3))
        #expect(!guardRange.acceptsPredictions([0, 7.5, 3], count: 3))
        #expect(!guardRange.acceptsPredictions([9, 3, 64.95, 3], count: 2, stride: 2), "strided: 9 and 64.95")
        #expect(guardRange.acceptsPredictions([3, 9, 4, 64.95], count: 2, stride: 2), "strided: 3 and 4")
    }
}
