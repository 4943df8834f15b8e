import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct TowerTests {
    static func config(_ encoder: HistoryEncoderKind) -> RetrievalConfig {
        var c = RetrievalConfig(items: 9, itemFeatures: 2)
        (c.embeddingWidth, c.dimension, c.hiddenWidth, c.encoder, c.temperature, c.maxHistory) = (3, 4, 5, encoder, 0.5, 4)
        return c
    }

    /// The whole objective: both towers, then the sampled softmax against a fixed queue.
    static func loss(_ p: RetrievalParameters, features: Tensor, history: HistoryBatch, targets: [Int32],
                     queue: NegativeQueue, logQ: [Float]) -> Double {
        var uw = UserTowerWorkspace(), iw = ItemTowerWorkspace(), lw = SampledSoftmaxWorkspace()
        UserTower.forward(p, history: history, workspace: &uw)
        ItemTower.forward(p, features: features, ids: targets, workspace: &iw)
        return SampledSoftmax.forward(users: uw.output, items: iw.output, itemIDs: targets, queue: queue, logQ: logQ,
                                      temperature: 0.5, workspace: &lw)
    }

    @Test(arguments: [HistoryEncoderKind.bagOfWords, .gru(hidden: 3), .lstm(hidden: 3), .cnn(filters: 3, width: 2)])
    func `both towers' gradients through the loss match finite differences`(encoder: HistoryEncoderKind) {
        let c = Self.config(encoder)
        var p = RetrievalParameters(config: c)
        // Positive filter biases: with 3 filters a history may otherwise encode to exactly 0, where
        // u = normalize(0) is singular and no finite difference is meaningful.
        if p.cnn != nil { p.cnn!.bias = Tensor(shape: [3], scalars: [0.5, 0.4, 0.3]) }
        let features = randomTensor([9, 2], seed: 61)
        let history = RetrievalFixtures.histories(count: 4, maxLength: 4, items: 9, seed: 62)
        let targets: [Int32] = [1, 5, 1, 8]
        var queue = NegativeQueue(capacity: 3, dimension: 4)
        queue.push(RowNormalizeHelper.unit(randomTensor([3, 4], seed: 63)), itemIDs: [5, 2, 0])
        let logQ: [Float] = [-1, -2, -1, -0.5, -3, -1, -2]
        var uw = UserTowerWorkspace(), iw = ItemTowerWorkspace(), lw = SampledSoftmaxWorkspace()
        UserTower.forward(p, history: history, workspace: &uw)
        ItemTower.forward(p, features: features, ids: targets, workspace: &iw)
        _ = SampledSoftmax.forward(users: uw.output, items: iw.output, itemIDs: targets, queue: queue, logQ: logQ,
                                   temperature: 0.5, workspace: &lw)
        var du = Tensor(shape: [4, 4]), dv = Tensor(shape: [4, 4])
        SampledSoftmax.backward(users: uw.output, items: iw.output, queue: queue, temperature: 0.5, scale: 1,
                                workspace: &lw, dUsers: &du, dItems: &dv)
        var g = p.zeros()
        UserTower.backward(p, history: history, dUser: du, workspace: &uw, gradients: &g)
        ItemTower.backward(p, ids: targets, dItem: dv, workspace: &iw, gradients: &g)
        for (name, path) in RetrievalParameters.paths(encoder: p.encoder) {
            gradientCheck(g[keyPath: path], of: { t in
                var q = p
                q[keyPath: path] = t
                return Self.loss(q, features: features, history: history, targets: targets, queue: queue, logQ: logQ)
            }, at: p[keyPath: path], step: 1e-3, rtol: 2e-2, atol: 2e-3, name)
        }
    }

    @Test func `parameters round-trip through their named tensors`() throws {
        let c = Self.config(.gru(hidden: 3))
        let p = RetrievalParameters(config: c)
        let loaded = try RetrievalParameters(config: c, tensors: Dictionary(uniqueKeysWithValues: p.namedTensors.map { ($0.name, $0.tensor) }))
        #expect(loaded.namedTensors.map(\.tensor) == p.namedTensors.map(\.tensor))
        #expect(throws: RetrievalError.self) { try RetrievalParameters(config: c, tensors: [:]) }
    }
}

enum RowNormalizeHelper {
    static func unit(_ x: Tensor) -> Tensor {
        var y = Tensor(shape: [0, 0]), norms: [Float] = []
        RowNormalize.forward(x, output: &y, norms: &norms)
        return y
    }
}
