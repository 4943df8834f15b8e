import ModelMath
import TensorCore
import TestSupport
import Testing

/// The meta-gradient through the closed-form ridge head against finite differences of the whole
/// objective `L_Q(ridge(θ; f_S, y_S); f_Q, y_Q)`.
@Suite struct RidgeMetaGradientTests {
    @Test(arguments: [[5, 4, 3, 1], [5, 6, 1], [5, 1]], [RidgeScale.mean, .sum])
    func `the ridge head's meta-gradient matches finite differences of the whole objective`(widths: [Int], scale: RidgeScale) {
        let theta = TowerTests.tower(seed: 70, widths: widths)
        let support = randomTensor([9, 5], seed: 71), query = randomTensor([6, 5], seed: 72)
        let ys = TowerTests.labels(9, kind: .regression, seed: 73), yq = TowerTests.labels(6, kind: .regression, seed: 74)
        let policy = Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 0.3, scale: scale))
        let objective = { (p: MLPParameters, s: Tensor, q: Tensor) in
            TowerTests.metaObjective(p, support: s, supportLabels: ys, query: q, queryLabels: yq, kind: .regression,
                                     adaptation: policy)
        }
        let numericTower = TowerTests.towerGradient(of: { objective($0, support, query) }, at: theta)
        let numericSupport = TestSupport.numericalGradient(of: { objective(theta, $0, query) }, at: support)
        let numericQuery = TestSupport.numericalGradient(of: { objective(theta, support, $0) }, at: query)
        for order in [MetaOrder.first, .second] {
            var ws = TowerWorkspace()
            let meta = MetaGradient.compute(for: Tower(parameters: theta, kind: .regression, activation: .tanh),
                                            support: LabelledRows(features: support, labels: ys),
                                            query: LabelledRows(features: query, labels: yq), policy: policy, order: order,
                                            workspace: &ws)
            #expect(meta.differentiatesSupport)
            #expect(TowerTests.relativeError(meta.tower, numericTower) < 2e-3, "tower (θ_0 of the head, hidden layers), \(order)")
            #expect(TowerTests.relativeError(meta.support, numericSupport) < 2e-3, "support rows (reach the shared bottom)")
            #expect(TowerTests.relativeError(meta.query, numericQuery) < 2e-3, "query rows")
            #expect(abs(meta.queryLoss - objective(theta, support, query)) < 1e-4 * max(1, meta.queryLoss))
        }
    }

    @Test func `unlabelled support rows change no meta-gradient under the summed-loss scale`() {
        let theta = TowerTests.tower(seed: 79, widths: [5, 4, 1])
        let support = randomTensor([9, 5], seed: 80), query = randomTensor([4, 5], seed: 81)
        var ys = TowerTests.labels(9, kind: .regression, seed: 82)
        ys.scalars[2] = .nan
        ys.scalars[7] = .nan
        let kept = [0, 1, 3, 4, 5, 6, 8]
        let supportKept = Tensor(shape: [7, 5], scalars: kept.flatMap { r in support.scalars[(r * 5)..<(r * 5 + 5)] })
        let ysKept = Tensor(shape: [7], scalars: kept.map { ys.scalars[$0] })
        let yq = TowerTests.labels(4, kind: .regression, seed: 83)
        let policy = Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 3, scale: .sum))
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .regression, activation: .tanh)
        let all = MetaGradient.compute(for: tower, support: LabelledRows(features: support, labels: ys),
                                       query: LabelledRows(features: query, labels: yq), policy: policy, order: .first, workspace: &ws)
        let labelled = MetaGradient.compute(for: tower, support: LabelledRows(features: supportKept, labels: ysKept),
                                            query: LabelledRows(features: query, labels: yq), policy: policy, order: .first,
                                            workspace: &ws)
        #expect(TowerTests.relativeError(all.tower, labelled.tower) < 1e-5)
        #expect(TowerTests.relativeError(all.query, labelled.query) < 1e-5)
        #expect(abs(all.queryLoss - labelled.queryLoss) < 1e-6 * max(1, all.queryLoss))
    }

    @Test func `a support set with no label gives the unadapted tower's query gradient`() {
        let theta = TowerTests.tower(seed: 75)
        let support = randomTensor([3, 5], seed: 76), query = randomTensor([4, 5], seed: 77)
        let ys = Tensor(shape: [3], scalars: [.nan, .nan, .nan]), yq = TowerTests.labels(4, kind: .regression, seed: 78)
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .regression, activation: .tanh)
        let meta = MetaGradient.compute(for: tower, support: LabelledRows(features: support, labels: ys),
                                        query: LabelledRows(features: query, labels: yq),
                                        policy: Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 0.3)), order: .first,
                                        workspace: &ws)
        let plain = MetaGradient.compute(for: tower, support: LabelledRows(features: support, labels: ys),
                                         query: LabelledRows(features: query, labels: yq),
                                         policy: Adaptation(steps: 0, learningRate: 0.1), order: .first, workspace: &ws)
        #expect(meta.tower == plain.tower)
        #expect(meta.query == plain.query)
        #expect(meta.support.squaredNorm() == 0)
    }
}
