import ModelMath
import TensorCore
import TestSupport
import Testing

/// The folded first layers (``FoldedInputLinear``: per distinct embedding row, not per batch
/// row) against the dense ones (a GEMM on the whole input `x`), which the finite-difference tests
/// of ``MultiTaskNetworkTests`` check: same forward, same loss, same gradient of every dense
/// tensor and every embedding row.
@Suite struct FoldedFirstLayerTests {
    static let tasks = [TaskSpec(name: "click", kind: .binary, weight: 1), TaskSpec(name: "rating", kind: .regression, weight: 0.5)]

    /// One forward, loss and backward with the first layers evaluated `how`.
    static func pass(_ how: FirstLayerEvaluation, _ parameters: ModelParameters, _ spec: NetworkSpec, _ layout: InputLayout,
                     _ batch: EncodedBatch, _ table: any EmbeddingTable, workspace ws: inout NetworkWorkspace)
        -> (loss: Double, gradients: ModelParameters) {
        ws.firstLayer = how
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        let loss = MultiTaskNetwork.loss(batch: batch, tasks: tasks, workspace: &ws).total
        MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
        return (loss, gradients)
    }

    static func expectAgreement(_ spec: NetworkSpec, _ layout: InputLayout, _ batch: EncodedBatch, seed: UInt64, _ comment: String) {
        let parameters = ModelParameters(spec: spec, seed: seed)
        let table = DictionaryEmbeddingTable(dimension: layout.embeddingDimension)
        var dense = NetworkWorkspace(), folded = NetworkWorkspace()
        let expected = pass(.dense, parameters, spec, layout, batch, table, workspace: &dense)
        let actual = pass(.folded, parameters, spec, layout, batch, table, workspace: &folded)
        #expect(!dense.foldedFirstLayer, "\(comment): dense pass")
        #expect(folded.foldedFirstLayer == (layout.categoricalCount > 0), "\(comment): folded pass")
        expectClose(actual.loss, expected.loss, rtol: 1e-5, atol: 1e-6, "\(comment): loss")
        for k in 0..<spec.taskCount {
            expectClose(folded.meta[k], dense.meta[k], rtol: 1e-4, atol: 1e-5, "\(comment): f_\(k)")
            expectClose(folded.logits(task: k), dense.logits(task: k), rtol: 1e-4, atol: 1e-5, "\(comment): logit \(k)")
        }
        var reference: [String: Tensor] = [:]
        expected.gradients.forEachTensor { name, t in reference[name] = t }
        actual.gradients.forEachTensor { name, t in
            expectClose(t, reference[name]!, rtol: 1e-4, atol: 1e-5, "\(comment): d\(name)")
        }
        #expect(folded.input.keys == dense.input.keys, "\(comment): keys")
        expectClose(folded.input.dRows, dense.input.dRows, rtol: 1e-4, atol: 1e-5, "\(comment): embedding rows")
    }

    /// Bags and numeric columns (the rest of `x`), numeric only, no rest at all, and no categorical
    /// feature (`.folded` falls back to dense); d = 4 and 20 cover a lane-masked projection and
    /// one of two vectors, d = 20 also a group of eight weight rows and a tail; 130-wide experts
    /// cover a projection wider than one 64-column block.
    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .sharedBottom],
          [InputLayout(categoricalCount: 3, multiCategoricalPooling: [.mean, .sum], numericCount: 2, embeddingDimension: 4),
           InputLayout(categoricalCount: 5, multiCategoricalPooling: [], numericCount: 3, embeddingDimension: 20),
           InputLayout(categoricalCount: 2, multiCategoricalPooling: [], numericCount: 0, embeddingDimension: 8),
           InputLayout(categoricalCount: 0, multiCategoricalPooling: [.mean], numericCount: 2, embeddingDimension: 8)])
    func `folded and dense first layers agree`(architecture: NetworkSpec.Architecture, layout: InputLayout) {
        for (widths, rows) in [([6, 5], 1), ([130], 29), ([16, 8], 70)] {
            let spec = NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: widths, towerWidths: [4],
                                   taskCount: Self.tasks.count, activation: .relu)
            let batch = randomBatch(rows: rows, layout: layout, tasks: Self.tasks, seed: UInt64(rows))
            Self.expectAgreement(spec, layout, batch, seed: 7, "\(architecture) \(widths) B \(rows)")
        }
    }

    /// Two features reading the same key (a hash collision) are two units over one embedding row,
    /// whose gradient is the sum of both features' shares.
    @Test func `a key read by two features is one unit of each`() {
        let layout = InputLayout(categoricalCount: 3, multiCategoricalPooling: [], numericCount: 1, embeddingDimension: 8)
        var batch = EncodedBatch(categoricalWidth: 3, multiCategoricalWidth: 0, numericWidth: 1, labelWidth: Self.tasks.count)
        for r in 0..<12 {
            let shared = UInt64(7 + r % 2)
            batch.append(categorical: [shared, shared, UInt64(100 + r % 3)], multiCategorical: [], numeric: [Float(r) / 4],
                         labels: [Float(r % 2), Float(r) / 10], taskKey: 0, timestamp: Int64(r))
        }
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [16], towerWidths: [4],
                               taskCount: Self.tasks.count, activation: .relu)
        Self.expectAgreement(spec, layout, batch, seed: 3, "shared keys")
        var ws = NetworkWorkspace()
        ws.firstLayer = .folded
        MultiTaskNetwork.forwardBottom(ModelParameters(spec: spec, seed: 3), spec: spec, layout: layout, batch: batch,
                                       table: DictionaryEmbeddingTable(dimension: 8), createEmbeddings: true, workspace: &ws)
        #expect(ws.input.keys.count == 5 && ws.input.unitCount == 7, "5 rows, 2 + 2 + 3 units: \(ws.input.keys.count), \(ws.input.unitCount)")
    }

    /// The cost model at its threshold: with d = 8, B = 64 and 4 features, folding pays up to
    /// U = B·Fc/2 = 128 units (2·U·d + 8·B·Fc ≤ 2·B·Fc·d); d = 4 never folds.
    @Test func `automatic folds up to half as many units as values`() {
        let tasks = Self.tasks
        /// `distinct[f]` values of feature f, cycled over 64 rows.
        func decision(d: Int, distinct: [Int]) -> Bool {
            let layout = InputLayout(categoricalCount: 4, multiCategoricalPooling: [], numericCount: 2, embeddingDimension: d)
            var batch = EncodedBatch(categoricalWidth: 4, multiCategoricalWidth: 0, numericWidth: 2, labelWidth: tasks.count)
            for r in 0..<64 {
                let keys = (0..<4).map { f in UInt64(f * 10_000 + r % distinct[f]) }
                batch.append(categorical: keys, multiCategorical: [], numeric: [0.5, -1], labels: [1, 0.5], taskKey: 0, timestamp: Int64(r))
            }
            let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [8], towerWidths: [4],
                                   taskCount: tasks.count, activation: .relu)
            var ws = NetworkWorkspace()
            MultiTaskNetwork.forwardBottom(ModelParameters(spec: spec, seed: 1), spec: spec, layout: layout, batch: batch,
                                           table: DictionaryEmbeddingTable(dimension: d), createEmbeddings: true, workspace: &ws)
            if d > 4 { #expect(ws.input.unitCount == distinct.reduce(0, +), "units indexed") }
            return ws.foldedFirstLayer
        }
        #expect(decision(d: 8, distinct: [32, 32, 32, 32]), "128 units")
        #expect(!decision(d: 8, distinct: [33, 32, 32, 32]), "129 units")
        #expect(decision(d: 8, distinct: [3, 1, 64, 2]), "70 units")
        #expect(!decision(d: 8, distinct: [64, 64, 64, 64]), "every value distinct")
        #expect(!decision(d: 4, distinct: [2, 2, 2, 2]), "d = 4")
    }

    /// One workspace through batches of different sizes and decisions: every pass equals a fresh
    /// workspace's (nothing stale from the previous batch's index or scratch).
    @Test func `a workspace reused across batches and modes stays exact`() {
        let layout = InputLayout(categoricalCount: 3, multiCategoricalPooling: [.mean], numericCount: 2, embeddingDimension: 8)
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [12], towerWidths: [4],
                               taskCount: Self.tasks.count, activation: .relu)
        let parameters = ModelParameters(spec: spec, seed: 9)
        let table = DictionaryEmbeddingTable(dimension: 8)
        var reused = NetworkWorkspace()
        // Two folded batches of one size (buffers kept, different keys), a smaller and a dense one
        // between, and `.automatic` (the seeds' batches repeat values, so it folds).
        let passes: [(Int, FirstLayerEvaluation)] = [(40, .folded), (40, .folded), (7, .folded), (40, .dense), (40, .automatic), (13, .folded)]
        for (i, (rows, how)) in passes.enumerated() {
            let batch = randomBatch(rows: rows, layout: layout, tasks: Self.tasks, seed: UInt64(50 + i))
            var fresh = NetworkWorkspace()
            let expected = Self.pass(how, parameters, spec, layout, batch, table, workspace: &fresh)
            let actual = Self.pass(how, parameters, spec, layout, batch, table, workspace: &reused)
            #expect(reused.foldedFirstLayer == (how != .dense), "pass \(i)")
            #expect(actual.loss == expected.loss, "pass \(i)")
            #expect(actual.gradients == expected.gradients, "pass \(i)")
            #expect(reused.input.dRows == fresh.input.dRows, "pass \(i)")
            var dense = NetworkWorkspace()
            let reference = Self.pass(.dense, parameters, spec, layout, batch, table, workspace: &dense)
            expectClose(actual.loss, reference.loss, rtol: 1e-5, atol: 1e-6, "pass \(i) against dense")
            expectClose(reused.input.dRows, dense.input.dRows, rtol: 1e-4, atol: 1e-5, "pass \(i) against dense")
        }
    }
}
