import ModelMath
import TensorCore
import TestSupport
import Testing

/// End-to-end gradient checks of the whole network, embeddings included.
@Suite struct MultiTaskNetworkTests {
    static let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean], numericCount: 3, embeddingDimension: 4)
    static let tasks = [TaskSpec(name: "click", kind: .binary, weight: 1), TaskSpec(name: "rating", kind: .regression, weight: 0.5)]

    static func spec(_ architecture: NetworkSpec.Architecture, _ activation: Activation) -> NetworkSpec {
        NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                    taskCount: tasks.count, activation: activation)
    }

    /// The base loss of `parameters` on `batch`, in Double.
    static func loss(_ parameters: ModelParameters, _ spec: NetworkSpec, _ batch: EncodedBatch, _ table: any EmbeddingTable,
                     layout: InputLayout = layout, firstLayer: FirstLayerEvaluation = .dense) -> Double {
        var ws = NetworkWorkspace()
        ws.firstLayer = firstLayer
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        return MultiTaskNetwork.loss(batch: batch, tasks: tasks, workspace: &ws).total
    }

    /// Both ways of evaluating the first layers (dense GEMMs on `x`, folded per distinct row).
    static let firstLayers: [FirstLayerEvaluation] = [.dense, .folded]

    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .sharedBottom], [1, 6])
    func `dense gradients match finite differences`(architecture: NetworkSpec.Architecture, rows: Int) {
        for firstLayer in Self.firstLayers { denseGradients(architecture, rows: rows, firstLayer: firstLayer) }
    }

    func denseGradients(_ architecture: NetworkSpec.Architecture, rows: Int, firstLayer: FirstLayerEvaluation) {
        let spec = Self.spec(architecture, .tanh)
        Self.checkDenseGradients(spec, batch: randomBatch(rows: rows, layout: Self.layout, tasks: Self.tasks, seed: 5),
                                 firstLayer: firstLayer, note: "\(rows) rows")
    }

    /// Every dense parameter's analytic gradient on `batch` against central finite differences
    /// of the loss (seeded parameters, embeddings created on first use).
    /// - Parameter parameters: the point to check at; seeded from `spec` when nil.
    static func checkDenseGradients(_ spec: NetworkSpec, batch: EncodedBatch, firstLayer: FirstLayerEvaluation, note: String,
                                    parameters: ModelParameters? = nil) {
        let parameters = parameters ?? ModelParameters(spec: spec, seed: 11)
        let table = DictionaryEmbeddingTable(dimension: 4)
        var ws = NetworkWorkspace()
        ws.firstLayer = firstLayer
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        MultiTaskNetwork.loss(batch: batch, tasks: tasks, workspace: &ws)
        MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
        #expect(ws.meta.allSatisfy { $0.scalars.allSatisfy { $0.isFinite } }, "finite meta-layer inputs, \(note)")

        var analytic: [String: Tensor] = [:]
        gradients.forEachTensor { name, t in analytic[name] = t }
        parameters.forEachTensor { name, value in
            gradientCheck(analytic[name]!, of: { probe in
                var p = parameters
                p.updateEachTensor { n, t in if n == name { t = probe } }
                return loss(p, spec, batch, table, firstLayer: firstLayer)
            }, at: value, step: 1e-2, rtol: 2e-2, atol: 2e-3, "\(name), \(firstLayer) first layers, \(note)")
        }
    }

    /// `d = 12` also runs the eight-lane row additions of the dense categorical scatter and the
    /// folded backward's group of eight weight rows plus a tail of four.
    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 2), .sharedBottom], [4, 12])
    func `embedding row gradients match finite differences`(architecture: NetworkSpec.Architecture, d: Int) {
        for firstLayer in Self.firstLayers { embeddingRowGradients(architecture, d: d, firstLayer: firstLayer) }
    }

    func embeddingRowGradients(_ architecture: NetworkSpec.Architecture, d: Int, firstLayer: FirstLayerEvaluation) {
        let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean], numericCount: 3, embeddingDimension: d)
        let spec = NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                               taskCount: Self.tasks.count, activation: .tanh)
        let parameters = ModelParameters(spec: spec, seed: 3)
        let batch = randomBatch(rows: 7, layout: layout, tasks: Self.tasks, seed: 9)
        let table = DictionaryEmbeddingTable(dimension: d)

        var ws = NetworkWorkspace()
        ws.firstLayer = firstLayer
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
        MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
        let keys = ws.input.keys, dRows = ws.input.dRows
        #expect(keys.count == Set(keys).count, "keys are unique")
        #expect(keys.count < 7 * 2 + batch.multiCategorical[0].keys.count, "some key repeats, so rows accumulate")

        for (u, key) in keys.enumerated() {
            let original = table.row(key)!
            let analytic = Tensor(shape: [d], scalars: Array(dRows.scalars[(u * d)..<((u + 1) * d)]))
            gradientCheck(analytic, of: { probe in
                table.setRow(key, probe.scalars)
                defer { table.setRow(key, original) }
                return Self.loss(parameters, spec, batch, table, layout: layout, firstLayer: firstLayer)
            }, at: Tensor(shape: [d], scalars: original), step: 1e-2, rtol: 2e-2, atol: 2e-3, "row \(u), \(firstLayer) first layers")
        }
    }

    @Test func `relu network gradients match finite differences away from kinks`() {
        let spec = Self.spec(.mmoe(experts: 2), .relu)
        let parameters = ModelParameters(spec: spec, seed: 21)
        let batch = randomBatch(rows: 4, layout: Self.layout, tasks: Self.tasks, seed: 2)
        let table = DictionaryEmbeddingTable(dimension: 4)
        var ws = NetworkWorkspace()
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: Self.layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
        MultiTaskNetwork.backward(parameters, spec: spec, layout: Self.layout, batch: batch, gradients: &gradients, workspace: &ws)
        // Towers only: a small step rarely crosses a ReLU kink there; loose tolerance for the rest.
        for k in 0..<spec.taskCount {
            for l in parameters.towers[k].layers.indices {
                gradientCheck(gradients.towers[k].layers[l].weight, of: { probe in
                    var p = parameters
                    p.towers[k].layers[l].weight = probe
                    return Self.loss(p, spec, batch, table)
                }, at: parameters.towers[k].layers[l].weight, step: 1e-3, rtol: 5e-2, atol: 5e-3, "tower \(k) layer \(l)")
            }
        }
    }

    @Test func `gradient descent on the network lowers the loss`() {
        let spec = Self.spec(.mmoe(experts: 3), .relu)
        var parameters = ModelParameters(spec: spec, seed: 4)
        let batch = randomBatch(rows: 32, layout: Self.layout, tasks: Self.tasks, seed: 8)
        let table = DictionaryEmbeddingTable(dimension: 4, learningRate: 0.1)
        let before = Self.loss(parameters, spec, batch, table)
        var ws = NetworkWorkspace()
        for _ in 0..<50 {
            var gradients = ModelParameters.zeros(like: parameters)
            MultiTaskNetwork.forward(parameters, spec: spec, layout: Self.layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
            MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
            MultiTaskNetwork.backward(parameters, spec: spec, layout: Self.layout, batch: batch, gradients: &gradients, workspace: &ws)
            parameters.addScaled(gradients, by: -0.1)
            ws.input.keys.withUnsafeBufferPointer { k in ws.input.dRows.withUnsafeBufferPointer { g in table.push(keys: k, gradients: g) } }
        }
        let after = Self.loss(parameters, spec, batch, table)
        #expect(after < 0.7 * before, "loss \(before) → \(after)")
    }
}
