import ModelMath
import TensorCore
import TestSupport
import Testing

/// Shared and per-scene experts (``SceneExperts``): a row's gates mix the shared experts and its
/// own scene's only, on the training bottom, its gradients and the inference bottom alike.
@Suite struct SceneExpertsTests {
    static let layout = MultiTaskNetworkTests.layout
    static let tasks = MultiTaskNetworkTests.tasks
    /// Scene keys in categorical column 1; `unknown` is none of them.
    static let keys: [UInt64] = [101, 202, 303]
    static let unknown: UInt64 = 999
    static let scenes = SceneExperts(column: 1, sceneKeys: keys, shared: 2, perScene: 2)
    static let gateKinds: [SceneExperts.Gates] = [.shared, .perScene]

    static func spec(_ activation: Activation, widths: [Int] = [6, 5], gates: SceneExperts.Gates = .shared) -> NetworkSpec {
        var scenes = scenes
        scenes.gates = gates
        return NetworkSpec(architecture: .mmoe(experts: scenes.expertCount), inputWidth: layout.width, bottomWidths: widths,
                           towerWidths: [4], taskCount: tasks.count, activation: activation, sceneExperts: scenes)
    }

    /// A random batch whose row `b` lies in scene `b mod 4` (3: unknown).
    static func batch(rows: Int, seed: UInt64) -> EncodedBatch {
        var batch = randomBatch(rows: rows, layout: layout, tasks: tasks, seed: seed)
        for b in 0..<rows { batch.categorical[b * batch.categoricalWidth + 1] = b % 4 < 3 ? keys[b % 4] : unknown }
        return batch
    }

    static func meta(_ p: ModelParameters, _ spec: NetworkSpec, _ batch: EncodedBatch) -> [Tensor] {
        var ws = NetworkWorkspace()
        MultiTaskNetwork.forwardBottom(p, spec: spec, layout: layout, batch: batch, table: DictionaryEmbeddingTable(dimension: 4),
                                       createEmbeddings: true, workspace: &ws)
        return ws.meta
    }

    @Test(arguments: gateKinds)
    func `a row's inputs move with its scene's experts and the shared ones, never another scene's`(gates: SceneExperts.Gates) {
        let spec = Self.spec(.tanh, gates: gates), batch = Self.batch(rows: 8, seed: 5)
        let parameters = ModelParameters(spec: spec, seed: 3), before = Self.meta(parameters, spec, batch)
        // Expert e's owner: shared for e < 2, else scene (e − 2) / 2.
        for expert in 0..<spec.expertCount {
            var moved = parameters
            moved.experts[expert].layers[0].bias.scalars = moved.experts[expert].layers[0].bias.scalars.map { $0 + 0.5 }
            let after = Self.meta(moved, spec, batch)
            let owner = expert < 2 ? nil : (expert - 2) / 2
            for b in 0..<batch.count {
                let scene = b % 4 < 3 ? b % 4 : nil
                let changed = (0..<spec.metaWidth).contains { j in after[0][b, j] != before[0][b, j] }
                let reaches = owner == nil || owner == scene
                #expect(changed == reaches, "expert \(expert) (scene \(owner.map(String.init) ?? "shared")), row \(b) in scene \(scene.map(String.init) ?? "unknown")")
            }
        }
    }

    @Test(arguments: [1, 8], gateKinds)
    func `gradients match finite differences with masked gates`(rows: Int, gates: SceneExperts.Gates) {
        for firstLayer in MultiTaskNetworkTests.firstLayers {
            MultiTaskNetworkTests.checkDenseGradients(Self.spec(.tanh, gates: gates), batch: Self.batch(rows: rows, seed: 5),
                                                      firstLayer: firstLayer, note: "scene experts, \(gates) gates, \(rows) rows")
        }
    }

    /// Each task's gate of scene `s` reaches the rows of scene `s` only, and the task's own gate
    /// (over the shared experts) the rows of unknown scenes only.
    @Test func `a per-scene gate moves its own scene's rows only`() {
        let spec = Self.spec(.tanh, gates: .perScene), batch = Self.batch(rows: 8, seed: 5)
        let parameters = ModelParameters(spec: spec, seed: 3), before = Self.meta(parameters, spec, batch)
        #expect(parameters.gates.allSatisfy { $0.outputs == 2 } && parameters.sceneGates.allSatisfy { $0.allSatisfy { $0.outputs == 4 } })
        for s in -1..<Self.keys.count {
            var moved = parameters
            if s < 0 { moved.gates[0].bias.scalars[1] += 0.5 } else { moved.sceneGates[0][s].bias.scalars[3] += 0.5 }
            let after = Self.meta(moved, spec, batch)
            for b in 0..<batch.count {
                let scene = b % 4 < 3 ? b % 4 : -1
                let changed = (0..<spec.metaWidth).contains { j in after[0][b, j] != before[0][b, j] }
                let unchanged = (0..<spec.metaWidth).allSatisfy { j in after[1][b, j] == before[1][b, j] }
                #expect(changed == (scene == s) && unchanged, "gate of scene \(s), row \(b) in scene \(scene)")
            }
        }
    }

    /// One forward, loss and backward of `spec` with the scene experts evaluated `how`.
    static func pass(_ how: NetworkWorkspace.SceneEvaluation, firstLayer: FirstLayerEvaluation, _ parameters: ModelParameters,
                     _ spec: NetworkSpec, _ batch: EncodedBatch, _ table: any EmbeddingTable, workspace ws: inout NetworkWorkspace)
        -> (loss: Double, gradients: ModelParameters) {
        ws.sceneEvaluation = how
        ws.firstLayer = firstLayer
        var gradients = ModelParameters.zeros(like: parameters)
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        let loss = MultiTaskNetwork.loss(batch: batch, tasks: tasks, workspace: &ws).total
        MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
        return (loss, gradients)
    }

    /// Scene experts (and per-scene gates) on their own rows only against the naive reference:
    /// every expert and gate on every row, the other scenes' gate logits −∞ (`.masked`). Batches
    /// mix the three scenes and an unknown one (row b in scene b mod 4; 1 row: scene 0 only, the
    /// other groups empty; then 12 rows mixed, and 12 rows mostly unknown), both first-layer
    /// forms, one workspace reused across batches.
    @Test(arguments: gateKinds, [[6, 5], [9]])
    func `experts on their own scene's rows equal every expert on every row, masked`(gates: SceneExperts.Gates, widths: [Int]) {
        let spec = Self.spec(.tanh, widths: widths, gates: gates)
        let parameters = ModelParameters(spec: spec, seed: 21), table = DictionaryEmbeddingTable(dimension: 4)
        for firstLayer in MultiTaskNetworkTests.firstLayers {
            var grouped = NetworkWorkspace()
            // The last batch has the third's size but another mix: scenes 0 and 1 empty, the rest
            // unknown but for two rows of scene 2 (a reused workspace must regroup, not only resize).
            var remixed = Self.batch(rows: 12, seed: 77)
            for r in 0..<12 { remixed.categorical[r * remixed.categoricalWidth + 1] = r == 3 || r == 8 ? Self.keys[2] : Self.unknown }
            for (rows, batch) in [29, 1, 12].map({ ($0, Self.batch(rows: $0, seed: UInt64(40 + $0))) }) + [(12, remixed)] {
                let note = "\(gates) gates, \(widths), \(firstLayer), B \(rows)\(batch == remixed ? " remixed" : "")"
                var masked = NetworkWorkspace()
                let expected = Self.pass(.masked, firstLayer: firstLayer, parameters, spec, batch, table, workspace: &masked)
                let actual = Self.pass(.grouped, firstLayer: firstLayer, parameters, spec, batch, table, workspace: &grouped)
                expectClose(actual.loss, expected.loss, rtol: 1e-5, atol: 1e-6, "\(note): loss")
                for k in 0..<spec.taskCount {
                    expectClose(grouped.meta[k], masked.meta[k], rtol: 1e-5, atol: 1e-6, "\(note): f_\(k)")
                }
                var reference: [String: Tensor] = [:]
                expected.gradients.forEachTensor { name, t in reference[name] = t }
                actual.gradients.forEachTensor { name, t in
                    expectClose(t, reference[name]!, rtol: 1e-4, atol: 1e-6, "\(note): d\(name)")
                }
                #expect(grouped.input.keys == masked.input.keys, "\(note): keys")
                expectClose(grouped.input.dRows, masked.input.dRows, rtol: 1e-4, atol: 1e-6, "\(note): embedding rows")
            }
        }
    }

    @Test(arguments: [[24], [9, 16]], gateKinds)
    func `the packed inference bottom masks as the training bottom does`(widths: [Int], gates: SceneExperts.Gates) {
        // Scenes interleaved (every block multiplied whole), one scene (only its columns
        // multiplied), and a run of scene 0 then unknown rows (two runs in a block).
        var oneScene = Self.batch(rows: 29, seed: 4), twoRuns = Self.batch(rows: 29, seed: 6)
        for r in 0..<29 {
            oneScene.categorical[r * oneScene.categoricalWidth + 1] = Self.keys[2]
            twoRuns.categorical[r * twoRuns.categoricalWidth + 1] = r < 10 ? Self.keys[0] : Self.unknown
        }
        let batches = [("interleaved", Self.batch(rows: 29, seed: 3)), ("one scene", oneScene), ("two runs", twoRuns)]
        for activation in [Activation.relu, .tanh] {
            for rowBlocks in [true, false] {
                for (name, batch) in batches {
                    let spec = Self.spec(activation, widths: widths, gates: gates)
                    let parameters = ModelParameters(spec: spec, seed: 17)
                    let table = DictionaryEmbeddingTable(dimension: 4)
                    var reference = NetworkWorkspace()
                    MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: Self.layout, batch: batch, table: table,
                                                   createEmbeddings: true, workspace: &reference)
                    var packed = NetworkWorkspace()
                    PackedBottom(parameters, spec: spec)
                        .forward(batch: batch, layout: Self.layout, table: table, workspace: &packed, rowBlocks: rowBlocks)
                    for k in 0..<spec.taskCount {
                        expectClose(packed.meta[k], reference.meta[k], rtol: 1e-5, atol: 1e-5,
                                    "\(widths) \(activation) \(gates) gates, \(name), blocks \(rowBlocks) task \(k)")
                    }
                }
            }
        }
    }
}
