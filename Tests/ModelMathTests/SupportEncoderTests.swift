import ModelMath
import TensorCore
import TestSupport
import Testing

/// The support-set encoder: the pools' weights against a naive reference, the history's
/// "strictly earlier rows of the same task" rule, and the network's gradients through the pools.
@Suite struct SupportEncoderTests {
    /// Naive reference: the bag of row `r` is every earlier row of its task (newest `capacity`),
    /// weights as documented on ``SupportEncoder``.
    static func referenceBags(_ batch: EncodedBatch, source: Int, label: Int, capacity: Int, pool: SupportEncoder.Pool)
        -> [[(key: UInt64, weight: Float)]] {
        (0..<batch.count).map { r in
            let earlier = (0..<r).filter { batch.taskKeys[$0] == batch.taskKeys[r] }.suffix(capacity)
            let ys = earlier.map { batch.label(row: $0, task: label) }
            let labelled = ys.filter { !$0.isNaN }
            let mean = labelled.isEmpty ? 0 : labelled.reduce(0, +) / Float(labelled.count)
            return zip(earlier, ys).map { i, y in
                let key = batch.categorical[i * batch.categoricalWidth + source]
                switch pool {
                case .mean: return (key, 1 / Float(earlier.count))
                case .labelWeighted: return (key, y.isNaN ? 0 : (y - mean) / Float(labelled.count))
                }
            }
        }
    }

    static let baseLayout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean], numericCount: 3, embeddingDimension: 4)
    static let tasks = [TaskSpec(name: "click", kind: .binary, weight: 1), TaskSpec(name: "rating", kind: .regression, weight: 0.5)]

    @Test(arguments: [1, 3, 64], [1, 3])
    func `attached pools are each row's strictly earlier rows of its task`(capacity: Int, taskKeys: Int) {
        let batch = randomBatch(rows: 40, layout: Self.baseLayout, tasks: Self.tasks, taskKeys: taskKeys, seed: 3)
        let encoder = SupportEncoder(pools: [.mean, .labelWeighted], sourceColumn: 1, labelColumn: 1, capacity: capacity)
        var history = SupportHistory(encoder: encoder)
        var encoded = batch
        history.attach(to: &encoded)
        #expect(encoded.multiCategoricalWidth == 3)
        for (p, pool) in encoder.pools.enumerated() {
            let column = encoded.multiCategorical[1 + p]
            let expected = Self.referenceBags(batch, source: 1, label: 1, capacity: capacity, pool: pool)
            for r in 0..<batch.count {
                let range = Int(column.offsets[r])..<Int(column.offsets[r + 1])
                #expect(Array(column.keys[range]) == expected[r].map(\.key), "row \(r) keys, \(pool)")
                for (got, want) in zip(column.weights[range], expected[r].map(\.weight)) {
                    #expect(abs(got - want) <= 1e-6, "row \(r) weight \(got) vs \(want), \(pool)")
                }
            }
        }
        #expect(encoded.multiCategorical[1].offsets[1] == 0, "the first row has no support: its own row is never pooled")
    }

    @Test func `attaching chunk by chunk equals attaching the whole log`() {
        let batch = randomBatch(rows: 30, layout: Self.baseLayout, tasks: Self.tasks, taskKeys: 4, seed: 8)
        let encoder = SupportEncoder(pools: [.labelWeighted], sourceColumn: 0, labelColumn: 1, capacity: 5)
        var whole = batch, one = SupportHistory(encoder: encoder)
        one.attach(to: &whole)
        var chunked = SupportHistory(encoder: encoder)
        var first = batch.selecting(rows: 0..<11), second = batch.selecting(rows: 11..<30)
        chunked.attach(to: &first)
        chunked.attach(to: &second)
        first.append(contentsOf: second)
        // The pools only: the random labels hold NaN (missing), which `==` never equates.
        #expect(first.multiCategorical == whole.multiCategorical && first.multiCategoricalWidth == 2)
    }

    @Test func `seeded history pools the seed rows first`() {
        let encoder = SupportEncoder(pools: [.mean], sourceColumn: 0, labelColumn: nil, capacity: 3)
        var history = SupportHistory(encoder: encoder)
        history.seed(task: 7, keys: [1, 2, 3, 4], labels: [.nan, .nan, .nan, .nan])
        var columns = encoder.makeColumns()
        history.appendBags(task: 7, to: &columns)
        history.record(task: 7, key: 5, label: .nan)
        history.appendBags(task: 7, to: &columns)
        history.appendBags(task: 8, to: &columns)
        #expect(Array(columns[0].keys(ofRow: 0)) == [2, 3, 4], "the newest S_max of the seed")
        #expect(Array(columns[0].keys(ofRow: 1)) == [3, 4, 5])
        #expect(columns[0].keys(ofRow: 2).isEmpty, "an unknown task pools nothing")
        #expect(columns[0].weights == [Float](repeating: 1.0 / 3, count: 6))
    }

    @Test func `own embeddings pool re-hashed keys with the same weights`() {
        let shared = SupportEncoder(pools: [.mean], sourceColumn: 0, labelColumn: nil, capacity: 8)
        var own = shared
        own.ownEmbeddings = true
        var a = shared.makeColumns(), b = own.makeColumns(), scratch: [Float] = []
        let keys: [UInt64] = [1, 2, 3, 1]
        shared.appendBags(keys: keys[...], labels: [.nan, .nan, .nan, .nan], to: &a, weights: &scratch)
        own.appendBags(keys: keys[...], labels: [.nan, .nan, .nan, .nan], to: &b, weights: &scratch)
        #expect(a[0].keys == keys)
        #expect(b[0].keys == keys.map(own.poolKey) && Set(b[0].keys).isDisjoint(with: keys))
        #expect(b[0].keys[0] == b[0].keys[3] && Set(b[0].keys).count == 3, "a function of the key")
        #expect(a[0].weights == b[0].weights)
    }

    @Test func `label-weighted pool ignores a per-user offset`() {
        let encoder = SupportEncoder(pools: [.labelWeighted], sourceColumn: 0, labelColumn: 0, capacity: 8)
        var a = encoder.makeColumns(), b = encoder.makeColumns(), scratch: [Float] = []
        encoder.appendBags(keys: [1, 2, 3], labels: [5, 3, 4], to: &a, weights: &scratch)
        encoder.appendBags(keys: [1, 2, 3], labels: [3, 1, 2], to: &b, weights: &scratch)
        #expect(a[0].weights == b[0].weights)
        #expect(abs(a[0].weights.reduce(0, +)) <= 1e-6, "centred weights sum to 0")
    }

    /// The network's gradients (dense parameters and embedding rows, which the pools share with
    /// the source feature) against finite differences of the loss, with both first-layer forms.
    @Test(arguments: [FirstLayerEvaluation.dense, .folded])
    func `network gradients through the support pools match finite differences`(firstLayer: FirstLayerEvaluation) {
        let encoder = SupportEncoder(pools: [.mean, .labelWeighted], sourceColumn: 1, labelColumn: 1, capacity: 4)
        var batch = randomBatch(rows: 9, layout: Self.baseLayout, tasks: Self.tasks, taskKeys: 2, seed: 12)
        var history = SupportHistory(encoder: encoder)
        history.attach(to: &batch)
        let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean, .weighted, .weighted], numericCount: 3,
                                 embeddingDimension: 4)
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                               taskCount: Self.tasks.count, activation: .tanh)
        let parameters = ModelParameters(spec: spec, seed: 5)
        let table = DictionaryEmbeddingTable(dimension: 4)
        func loss(_ p: ModelParameters) -> Double {
            var ws = NetworkWorkspace()
            ws.firstLayer = firstLayer
            MultiTaskNetwork.forward(p, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
            return MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws).total
        }
        var ws = NetworkWorkspace()
        ws.firstLayer = firstLayer
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
        MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
        let keys = ws.input.keys, dRows = ws.input.dRows
        for (u, key) in keys.enumerated() {
            let original = table.row(key)!
            let analytic = Tensor(shape: [4], scalars: Array(dRows.scalars[(u * 4)..<((u + 1) * 4)]))
            gradientCheck(analytic, of: { probe in
                table.setRow(key, probe.scalars)
                defer { table.setRow(key, original) }
                return loss(parameters)
            }, at: Tensor(shape: [4], scalars: original), step: 1e-2, rtol: 2e-2, atol: 2e-3, "row \(u), \(firstLayer)")
        }
        var analytic: [String: Tensor] = [:]
        gradients.forEachTensor { name, t in analytic[name] = t }
        parameters.forEachTensor { name, value in
            guard name.hasPrefix("expert") || name.hasPrefix("gate") else { return }
            gradientCheck(analytic[name]!, of: { probe in
                var p = parameters
                p.updateEachTensor { n, t in if n == name { t = probe } }
                return loss(p)
            }, at: value, step: 1e-2, rtol: 2e-2, atol: 2e-3, "\(name), \(firstLayer)")
        }
    }

    /// With their own rows (keys disjoint from the categorical ones) the pools' rows get zero
    /// gradient under a stop-gradient, and every other row the gradient of the full network.
    @Test func `a stop-gradient pool passes no gradient to its rows and leaves the others unchanged`() {
        var encoder = SupportEncoder(pools: [.mean, .labelWeighted], sourceColumn: 1, labelColumn: 1, capacity: 4)
        encoder.ownEmbeddings = true
        var batch = randomBatch(rows: 9, layout: Self.baseLayout, tasks: Self.tasks, taskKeys: 2, seed: 4)
        var history = SupportHistory(encoder: encoder)
        history.attach(to: &batch)
        var layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean, .weighted, .weighted], numericCount: 3,
                                 embeddingDimension: 4)
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                               taskCount: Self.tasks.count, activation: .tanh)
        let parameters = ModelParameters(spec: spec, seed: 6)
        let table = DictionaryEmbeddingTable(dimension: 4)
        func rowGradients(_ layout: InputLayout) -> [UInt64: [Float]] {
            var ws = NetworkWorkspace()
            var gradients = ModelParameters.zeros(like: parameters)
            MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
            MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
            MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
            var out: [UInt64: [Float]] = [:]
            for (u, key) in ws.input.keys.enumerated() { out[key] = Array(ws.input.dRows.scalars[(u * 4)..<((u + 1) * 4)]) }
            return out
        }
        let full = rowGradients(layout)
        layout.stopsGradient = [1, 2]
        let stopped = rowGradients(layout)
        let poolKeys = Set(batch.multiCategorical[1].keys)
        #expect(!poolKeys.isEmpty && full.keys.count == stopped.keys.count)
        for (key, g) in stopped {
            if poolKeys.contains(key) {
                #expect(g.allSatisfy { $0 == 0 }, "pool row \(key)")
                #expect(full[key]!.contains { $0 != 0 }, "the full network does train pool row \(key)")
            } else {
                #expect(g == full[key]!, "row \(key)")
            }
        }
    }

    @Test func `a weighted pool without weights traps`() async {
        await #expect(processExitsWith: .failure) {
            var column = MultiCategoricalColumn()
            column.append([1, 2], weights: [0.5])
        }
    }
}
