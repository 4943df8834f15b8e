import ModelMath
import TensorCore
import TestSupport
import Testing

/// The fused `H → T → 1` inner loop and scoring against the generic MLP path they replace.
@Suite struct TwoLayerTowerTests {
    static func tower(h: Int, t: Int, seed: UInt64) -> MLPParameters {
        var rng = SeededRandom(seed: seed)
        return MLPParameters(widths: [h, t, 1], activatesLast: false, using: &rng)
    }

    /// `steps` SGD steps through the generic `TowerObjective.gradient` (MLP forward/backward).
    static func genericAdapt(_ tower: MLPParameters, support: Tensor, labels: Tensor, kind: TaskKind,
                             activation: Activation, steps: Int, rate: Float, loss: InnerLoss = .pointwise,
                             adapts: AdaptedLayers = .all) -> MLPParameters {
        var fast = tower, ws = TowerWorkspace()
        for _ in 0..<steps {
            TowerObjective.gradient(Tower(parameters: fast, rates: nil, kind: kind, activation: activation), input: support,
                                    labels: labels, loss: loss, inputGradient: false, workspace: &ws)
            let g = ws.gradientsForTesting!
            for l in fast.layers.indices where adapts.adapts(layer: l, of: fast.layers.count) {
                fast.layers[l].weight.addScaled(g.layers[l].weight, by: -rate)
                fast.layers[l].bias.addScaled(g.layers[l].bias, by: -rate)
            }
        }
        return fast
    }

    static func labels(_ count: Int, kind: TaskKind, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor(shape: [count], scalars: (0..<count).map { i in
            if i % 5 == 3 { return .nan }
            return kind == .binary ? (rng.nextUniform() < 0.5 ? 0 : 1) : rng.nextNormal()
        })
    }

    @Test(arguments: [TaskKind.binary, .regression], [Activation.relu, .tanh])
    func `fused adaptation equals the generic inner loop`(kind: TaskKind, activation: Activation) {
        for (s, h, t) in [(1, 5, 3), (7, 13, 8), (64, 13, 13), (64, 64, 64)] {
            let base = Self.tower(h: h, t: t, seed: UInt64(s * 31 + t))
            let support = randomTensor([s, h], seed: UInt64(s + h))
            let y = s == 1 ? Tensor(shape: [1], scalars: [kind == .binary ? 1 : 0.5]) : Self.labels(s, kind: kind, seed: 4)
            var ws = TowerWorkspace()
            let fused = Tower(parameters: base, rates: nil, kind: kind, activation: activation).adapted(on: support, labels: y, policy: Adaptation(steps: 3, learningRate: 0.3), workspace: &ws).parameters
            let generic = Self.genericAdapt(base, support: support, labels: y, kind: kind, activation: activation,
                                            steps: 3, rate: 0.3)
            for l in 0..<2 {
                expectClose(fused.layers[l].weight, generic.layers[l].weight, rtol: 1e-4, atol: 1e-5, "S \(s) H \(h) T \(t) W\(l)")
                expectClose(fused.layers[l].bias, generic.layers[l].bias, rtol: 1e-4, atol: 1e-5, "S \(s) H \(h) T \(t) b\(l)")
            }
            #expect(fused != base, "the step must move the tower")
        }
    }

    @Test func `strided adaptation of a column block equals adaptation of the copied block`() {
        let k = 2, h = 16, s = 24
        let rows = randomTensor([s, k * h], seed: 3)
        let labelMatrix = Tensor(shape: [s, k], scalars: (0..<(s * k)).map { i in i % 7 == 2 ? .nan : Float(i % 2) })
        for task in 0..<k {
            let base = Self.tower(h: h, t: 8, seed: UInt64(task + 1))
            var block = Tensor(shape: [s, h])
            ColumnBlock.extract(from: rows, atColumn: task * h, into: &block)
            let y = Tensor(shape: [s], scalars: (0..<s).map { labelMatrix.scalars[$0 * k + task] })
            var ws = TowerWorkspace()
            let adaptation = Adaptation(steps: 2, learningRate: 0.1)
            let contiguous = Tower(parameters: base, rates: nil, kind: .binary, activation: .relu).adapted(on: block, labels: y, policy: adaptation, workspace: &ws).parameters
            var strided = Tower(parameters: base, kind: .binary, activation: .relu)
            rows.withUnsafeBufferPointer { f in
                labelMatrix.withUnsafeBufferPointer { l in
                    strided.adapt(on: TowerRows(count: s, features: f.baseAddress! + task * h, featureStride: k * h,
                                                labels: l.baseAddress! + task, labelStride: k),
                                  policy: adaptation, workspace: &ws)
                }
            }
            #expect(strided.parameters == contiguous, "task \(task)")
        }
    }

    @Test func `strided adaptation of a deeper tower takes the generic path and agrees`() {
        var rng = SeededRandom(seed: 9)
        let base = MLPParameters(widths: [6, 5, 4, 1], activatesLast: false, using: &rng)
        let rows = randomTensor([10, 12], seed: 8)  // two tasks' blocks of width 6
        var block = Tensor(shape: [10, 6])
        ColumnBlock.extract(from: rows, atColumn: 6, into: &block)
        let y = Self.labels(10, kind: .regression, seed: 2)
        var ws = TowerWorkspace()
        let adaptation = Adaptation(steps: 2, learningRate: 0.05)
        let expected = Tower(parameters: base, rates: nil, kind: .regression, activation: .tanh).adapted(on: block, labels: y, policy: adaptation, workspace: &ws).parameters
        var strided = Tower(parameters: base, kind: .regression, activation: .tanh)
        rows.withUnsafeBufferPointer { f in
            y.withUnsafeBufferPointer { l in
                strided.adapt(on: TowerRows(count: 10, features: f.baseAddress! + 6, featureStride: 12, labels: l.baseAddress!),
                              policy: adaptation, workspace: &ws)
            }
        }
        #expect(strided.parameters == expected)
    }

    @Test(arguments: [TaskKind.binary, .regression],
          [(InnerLoss.pairwise(pointwiseWeight: 0), AdaptedLayers.all), (.listwise(pointwiseWeight: 0.5), .all),
           (.pointwise, .hidden), (.pairwise(pointwiseWeight: 0.3), .output)])
    func `fused adaptation equals the generic inner loop for every loss and layer mask`(
        kind: TaskKind, variant: (loss: InnerLoss, adapts: AdaptedLayers)
    ) {
        let base = Self.tower(h: 13, t: 8, seed: 51)
        let support = randomTensor([20, 13], seed: 52)
        let y = Self.labels(20, kind: kind, seed: 53)
        var ws = TowerWorkspace()
        let policy = Adaptation(steps: 3, learningRate: 0.3, loss: variant.loss, adapts: variant.adapts)
        let fused = Tower(parameters: base, kind: kind, activation: .relu)
            .adapted(on: support, labels: y, policy: policy, workspace: &ws).parameters
        let generic = Self.genericAdapt(base, support: support, labels: y, kind: kind, activation: .relu, steps: 3,
                                        rate: 0.3, loss: variant.loss, adapts: variant.adapts)
        for l in 0..<2 {
            expectClose(fused.layers[l].weight, generic.layers[l].weight, rtol: 1e-4, atol: 1e-5, "W\(l)")
            expectClose(fused.layers[l].bias, generic.layers[l].bias, rtol: 1e-4, atol: 1e-5, "b\(l)")
        }
        #expect(fused != base)
    }

    @Test(arguments: [TaskKind.binary, .regression])
    func `fused predictions equal the generic forward pass`(kind: TaskKind) {
        let base = Self.tower(h: 20, t: 24, seed: 5)
        let candidates = randomTensor([37, 20], seed: 6, scale: 2)
        var ws = TowerWorkspace(), fused: [Float] = []
        TowerObjective.predictions(base, input: candidates, kind: kind, activation: .relu, into: &fused, workspace: &ws)
        var cache = MLPActivations()
        MLP.forward(base, input: candidates, activation: .relu, activatesLast: false, cache: &cache)
        let expected = cache.result.scalars.map { TaskLoss.prediction(kind: kind, logit: $0) }
        expectClose(Tensor(shape: [37], scalars: fused), Tensor(shape: [37], scalars: expected), rtol: 1e-5, atol: 1e-6)
        // Strided into a strided output: every other slot of a (37, 2) matrix.
        var out = [Float](repeating: -7, count: 74)
        let finite = candidates.withUnsafeBufferPointer { f in
            out.withUnsafeMutableBufferPointer { o in
                TowerObjective.predictions(base, rows: 37, features: f.baseAddress!, featureStride: 20, kind: kind,
                                           activation: .relu, into: o.baseAddress! + 1, outputStride: 2, workspace: &ws)
            }
        }
        #expect(finite)
        #expect((0..<37).map { out[2 * $0 + 1] } == fused)
        #expect((0..<37).allSatisfy { out[2 * $0] == -7 }, "slots outside the stride are untouched")
    }

    @Test func `a non-finite weight makes predictions report non-finite`() {
        var base = Self.tower(h: 4, t: 8, seed: 1)
        base.layers[1].bias.scalars[0] = .nan
        var ws = TowerWorkspace(), out = [Float](repeating: 0, count: 3)
        let input = randomTensor([3, 4], seed: 2)
        let finite = input.withUnsafeBufferPointer { f in
            out.withUnsafeMutableBufferPointer { o in
                TowerObjective.predictions(base, rows: 3, features: f.baseAddress!, featureStride: 4, kind: .binary,
                                           activation: .relu, into: o.baseAddress!, outputStride: 1, workspace: &ws)
            }
        }
        #expect(!finite)
    }
}
