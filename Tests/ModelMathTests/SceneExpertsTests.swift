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

    static func spec(_ activation: Activation, widths: [Int] = [6, 5]) -> NetworkSpec {
        NetworkSpec(architecture: .mmoe(experts: scenes.expertCount), inputWidth: layout.width, bottomWidths: widths,
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

    @Test func `a row's inputs move with its scene's experts and the shared ones, never another scene's`() {
        let spec = Self.spec(.tanh), batch = Self.batch(rows: 8, seed: 5)
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

    @Test(arguments: [1, 8])
    func `gradients match finite differences with masked gates`(rows: Int) {
        for firstLayer in MultiTaskNetworkTests.firstLayers {
            MultiTaskNetworkTests.checkDenseGradients(Self.spec(.tanh), batch: Self.batch(rows: rows, seed: 5), firstLayer: firstLayer,
                                                      note: "scene experts, \(rows) rows")
        }
    }

    @Test(arguments: [[24], [9, 16]])
    func `the packed inference bottom masks as the training bottom does`(widths: [Int]) {
        for activation in [Activation.relu, .tanh] {
            for rowBlocks in [true, false] {
                let spec = Self.spec(activation, widths: widths)
                let parameters = ModelParameters(spec: spec, seed: 17)
                let table = DictionaryEmbeddingTable(dimension: 4), batch = Self.batch(rows: 29, seed: 3)
                var reference = NetworkWorkspace()
                MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: Self.layout, batch: batch, table: table,
                                               createEmbeddings: true, workspace: &reference)
                var packed = NetworkWorkspace()
                PackedBottom(parameters, spec: spec)
                    .forward(batch: batch, layout: Self.layout, table: table, workspace: &packed, rowBlocks: rowBlocks)
                for k in 0..<spec.taskCount {
                    expectClose(packed.meta[k], reference.meta[k], rtol: 1e-5, atol: 1e-5,
                                "\(widths) \(activation) blocks \(rowBlocks) task \(k)")
                }
            }
        }
    }
}
