import Foundation
import ModelMath
import TensorCore
import TestSupport
import Testing

/// STAR towers (``StarTower``, Sheng et al. CIKM 2021): a row is scored by its scene's
/// `W ⊙ W_s`, `b + b_s`; the op against a naive per-row reference and finite differences, and
/// the network's gradients through it.
@Suite struct StarTowerTests {
    static let scenes = 3

    /// A tower `H → widths → 1`, its scene factors away from the 1 / 0 start, the rows' scenes
    /// (row `b` in scene `b mod 4 − 1`, so −1 is the unknown scene) and the input `(B, H)`.
    static func fixture(widths: [Int], rows: Int, seed: UInt64) -> (MLPParameters, [MLPParameters], [Int32], Tensor) {
        var rng = SeededRandom(seed: seed)
        let h = 5
        let shared = MLPParameters(widths: [h] + widths + [1], activatesLast: false, using: &rng)
        let factors = (0..<scenes).map { s in
            var f = shared.zeros()
            for l in f.layers.indices {
                f.layers[l].weight = randomTensor(f.layers[l].weight.shape, seed: seed &+ UInt64(10 * s + l)).map { 1 + 0.5 * $0 }
                f.layers[l].bias = randomTensor(f.layers[l].bias.shape, seed: seed &+ UInt64(100 + 10 * s + l), scale: 0.3)
            }
            return f
        }
        let rowScenes = (0..<rows).map { Int32($0 % 4) - 1 }
        return (shared, factors, rowScenes, randomTensor([rows, h], seed: seed &+ 999))
    }

    /// Row by row, layer by layer, the effective weights formed element by element, in Double.
    static func reference(shared: MLPParameters, scenes: [MLPParameters], rowScenes: [Int32], input: Tensor,
                          activation: Activation) -> Tensor {
        var out = Tensor(shape: [input.rows, 1])
        for b in 0..<input.rows {
            var a = (0..<input.columns).map { Double(input[b, $0]) }
            for (l, layer) in shared.layers.enumerated() {
                let s = Int(rowScenes[b])
                var z = [Double](repeating: 0, count: layer.outputs)
                for j in 0..<layer.outputs {
                    var sum = Double(layer.bias[j]) + (s >= 0 ? Double(scenes[s].layers[l].bias[j]) : 0)
                    for i in 0..<layer.inputs {
                        let w = Double(layer.weight[i, j]) * (s >= 0 ? Double(scenes[s].layers[l].weight[i, j]) : 1)
                        sum += a[i] * w
                    }
                    let last = l == shared.layers.count - 1
                    z[j] = last ? sum : (activation == .relu ? max(sum, 0) : Foundation.tanh(sum))
                }
                a = z
            }
            out[b, 0] = Float(a[0])
        }
        return out
    }

    static func forward(_ shared: MLPParameters, _ scenes: [MLPParameters], _ rowScenes: [Int32], _ input: Tensor,
                        _ activation: Activation) -> Tensor {
        var ws = StarTowerWorkspace(), out = Tensor(shape: [0, 1])
        StarTower.forward(shared: shared, scenes: scenes, rowScenes: rowScenes, input: input, activation: activation,
                          workspace: &ws, output: &out)
        return out
    }

    @Test(arguments: [[], [4], [4, 3]], [1, 9])
    func `forward matches the naive per-row reference`(widths: [Int], rows: Int) {
        for activation in [Activation.relu, .tanh] {
            let (shared, scenes, rowScenes, input) = Self.fixture(widths: widths, rows: rows, seed: 7)
            expectClose(Self.forward(shared, scenes, rowScenes, input, activation),
                        Self.reference(shared: shared, scenes: scenes, rowScenes: rowScenes, input: input, activation: activation),
                        rtol: 1e-5, atol: 1e-5, "\(widths) \(activation) \(rows) rows")
        }
    }

    @Test(arguments: [[], [4], [4, 3]], [1, 9])
    func `backward matches finite differences in the shared tower, every scene's factors and the input`(widths: [Int], rows: Int) {
        let (shared, scenes, rowScenes, input) = Self.fixture(widths: widths, rows: rows, seed: 11)
        let upstream = randomTensor([rows, 1], seed: 3)
        func loss(_ p: MLPParameters, _ f: [MLPParameters], _ x: Tensor) -> Double {
            weightedSum(Self.forward(p, f, rowScenes, x, .tanh), upstream)
        }
        var ws = StarTowerWorkspace(), out = Tensor(shape: [0, 1])
        StarTower.forward(shared: shared, scenes: scenes, rowScenes: rowScenes, input: input, activation: .tanh, workspace: &ws, output: &out)
        var dShared = shared.zeros(), dScenes = scenes.map { $0.zeros() }
        var dInput: Tensor? = Tensor(shape: input.shape)
        StarTower.backward(shared: shared, scenes: scenes, activation: .tanh, workspace: &ws, dOutput: upstream,
                           dShared: &dShared, dScenes: &dScenes, dInput: &dInput)
        for l in shared.layers.indices {
            gradientCheck(dShared.layers[l].weight, of: { probe in
                var p = shared; p.layers[l].weight = probe; return loss(p, scenes, input)
            }, at: shared.layers[l].weight, rtol: 1e-2, atol: 1e-3, "W layer \(l)")
            gradientCheck(dShared.layers[l].bias, of: { probe in
                var p = shared; p.layers[l].bias = probe; return loss(p, scenes, input)
            }, at: shared.layers[l].bias, rtol: 1e-2, atol: 1e-3, "b layer \(l)")
            for s in scenes.indices {
                gradientCheck(dScenes[s].layers[l].weight, of: { probe in
                    var f = scenes; f[s].layers[l].weight = probe; return loss(shared, f, input)
                }, at: scenes[s].layers[l].weight, rtol: 1e-2, atol: 1e-3, "W_\(s) layer \(l)")
                gradientCheck(dScenes[s].layers[l].bias, of: { probe in
                    var f = scenes; f[s].layers[l].bias = probe; return loss(shared, f, input)
                }, at: scenes[s].layers[l].bias, rtol: 1e-2, atol: 1e-3, "b_\(s) layer \(l)")
            }
        }
        gradientCheck(dInput!, of: { loss(shared, scenes, $0) }, at: input, rtol: 1e-2, atol: 1e-3, "input")
    }

    @Test func `a scene's factors reach only its rows, and the unknown scene's rows only the shared tower`() {
        let (shared, scenes, rowScenes, input) = Self.fixture(widths: [4], rows: 12, seed: 5)
        let before = Self.forward(shared, scenes, rowScenes, input, .relu)
        for s in scenes.indices {
            var moved = scenes
            moved[s].layers[0].bias.scalars = moved[s].layers[0].bias.scalars.map { $0 + 0.7 }
            moved[s].layers[1].weight.scalars = moved[s].layers[1].weight.scalars.map { $0 * 1.5 }
            let after = Self.forward(shared, moved, rowScenes, input, .relu)
            for b in 0..<input.rows {
                #expect((after[b, 0] != before[b, 0]) == (Int(rowScenes[b]) == s), "scene \(s), row \(b) of scene \(rowScenes[b])")
            }
        }
        // The unknown scene's rows get no gradient into any scene's factors.
        var ws = StarTowerWorkspace(), out = Tensor(shape: [0, 1])
        let unknown = [Int32](repeating: -1, count: 4)
        StarTower.forward(shared: shared, scenes: scenes, rowScenes: unknown, input: randomTensor([4, 5], seed: 2), activation: .relu,
                          workspace: &ws, output: &out)
        var dShared = shared.zeros(), dScenes = scenes.map { $0.zeros() }
        var none: Tensor? = nil
        StarTower.backward(shared: shared, scenes: scenes, activation: .relu, workspace: &ws, dOutput: Tensor(shape: [4, 1], repeating: 1),
                           dShared: &dShared, dScenes: &dScenes, dInput: &none)
        #expect(dScenes.allSatisfy { $0.layers.allSatisfy { $0.weight.maxAbs() == 0 && $0.bias.maxAbs() == 0 } })
        #expect(dShared.layers[1].bias[0] == 4)
    }

    @Test func `effective parameters are W times W_s and b plus b_s`() {
        let (shared, scenes, _, _) = Self.fixture(widths: [4], rows: 1, seed: 9)
        let theta = StarTower.effective(shared: shared, scene: scenes[1])
        for l in shared.layers.indices {
            expectClose(theta.layers[l].weight, shared.layers[l].weight .* scenes[1].layers[l].weight, rtol: 0, atol: 0, "W layer \(l)")
            expectClose(theta.layers[l].bias, shared.layers[l].bias + scenes[1].layers[l].bias, rtol: 0, atol: 0, "b layer \(l)")
        }
    }

    // MARK: The network with STAR towers

    static let layout = MultiTaskNetworkTests.layout
    static let tasks = MultiTaskNetworkTests.tasks
    /// Scene keys in categorical column 1 (`randomBatch` draws 1000 … 1004: 1003 and 1004 are unknown).
    static let star = StarTowers(column: 1, sceneKeys: [1000, 1001, 1002])

    static func spec(_ architecture: NetworkSpec.Architecture, star: StarTowers? = star) -> NetworkSpec {
        NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                    taskCount: tasks.count, activation: .tanh, starTowers: star)
    }

    @Test func `STAR parameters start at W_s = 1, b_s = 0 and score as the plain towers`() {
        let plain = ModelParameters(spec: Self.spec(.mmoe(experts: 3), star: nil), seed: 4)
        let star = ModelParameters(spec: Self.spec(.mmoe(experts: 3)), seed: 4)
        #expect(star.towers == plain.towers && star.starTowers.count == Self.tasks.count)
        #expect(star.starTowers.allSatisfy { $0.count == 3 && $0.allSatisfy { f in
            f.layers.allSatisfy { $0.weight.scalars.allSatisfy { $0 == 1 } && $0.bias.scalars.allSatisfy { $0 == 0 } } } })
        let batch = randomBatch(rows: 11, layout: Self.layout, tasks: Self.tasks, seed: 6)
        let table = DictionaryEmbeddingTable(dimension: 4)
        func logits(_ parameters: ModelParameters, _ spec: NetworkSpec) -> [Tensor] {
            var ws = NetworkWorkspace()
            MultiTaskNetwork.forward(parameters, spec: spec, layout: Self.layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
            return (0..<spec.taskCount).map { ws.logits(task: $0) }
        }
        let expected = logits(plain, Self.spec(.mmoe(experts: 3), star: nil))
        let actual = logits(star, Self.spec(.mmoe(experts: 3)))
        for k in expected.indices { expectClose(actual[k], expected[k], rtol: 1e-6, atol: 1e-6, "task \(k)") }
    }

    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .sharedBottom], [1, 9])
    func `network gradients match finite differences through STAR towers`(architecture: NetworkSpec.Architecture, rows: Int) {
        let spec = Self.spec(architecture)
        var parameters = ModelParameters(spec: spec, seed: 11)
        randomizeStarFactors(&parameters)
        for firstLayer in MultiTaskNetworkTests.firstLayers {
            MultiTaskNetworkTests.checkDenseGradients(spec, batch: randomBatch(rows: rows, layout: Self.layout, tasks: Self.tasks, seed: 5),
                                                      firstLayer: firstLayer, note: "STAR towers, \(rows) rows", parameters: parameters)
        }
    }
}
