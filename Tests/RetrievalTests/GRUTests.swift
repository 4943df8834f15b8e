import Foundation
import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct GRUTests {
    /// The recurrence written out per row and unit in Double, from the definition (not the kernel).
    static func reference(_ p: GRUParameters, x: Tensor, history: HistoryBatch) -> Tensor {
        let l = history.maxLength, count = history.count, h = p.hiddenWidth, input = p.inputWidth
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        var out = Tensor(shape: [count, h])
        for b in 0..<count {
            var state = [Double](repeating: 0, count: h)
            for t in 0..<Int(history.lengths[b]) {
                func pre(_ gate: Int, _ j: Int, hidden: Bool) -> Double {
                    let col = gate * h + j
                    var s = Double(hidden ? p.hiddenBias.scalars[col] : p.inputBias.scalars[col])
                    if hidden {
                        for i in 0..<h { s += state[i] * Double(p.hiddenWeight.scalars[i * 3 * h + col]) }
                    } else {
                        for i in 0..<input { s += Double(x.scalars[(t * count + b) * input + i]) * Double(p.inputWeight.scalars[i * 3 * h + col]) }
                    }
                    return s
                }
                var next = state
                for j in 0..<h {
                    let r = sigmoid(pre(0, j, hidden: false) + pre(0, j, hidden: true))
                    let z = sigmoid(pre(1, j, hidden: false) + pre(1, j, hidden: true))
                    let n = tanh(pre(2, j, hidden: false) + r * pre(2, j, hidden: true))
                    next[j] = (1 - z) * n + z * state[j]
                }
                state = next
            }
            for j in 0..<h { out.scalars[b * h + j] = Float(state[j]) }
        }
        _ = l
        return out
    }

    static func setup(count: Int, maxLength: Int, input: Int, hidden: Int, seed: UInt64) -> (GRUParameters, Tensor, HistoryBatch) {
        var rng = SeededRandom(seed: seed)
        let p = GRUParameters(inputs: input, hidden: hidden, using: &rng)
        let history = RetrievalFixtures.histories(count: count, maxLength: maxLength, items: 9, seed: seed)
        let x = randomTensor([maxLength * count, input], seed: seed + 100)
        return (p, x, history)
    }

    static func run(_ p: GRUParameters, _ x: Tensor, _ history: HistoryBatch) -> Tensor {
        var ws = GRUWorkspace(), out = RetrievalFixtures.garbage([history.count, p.hiddenWidth])
        GRU.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        return out
    }

    @Test(arguments: [(1, 3, 2, 3), (6, 4, 3, 5), (7, 5, 4, 4)])
    func `GRU forward matches a naive reference with padding`(count: Int, maxLength: Int, input: Int, hidden: Int) {
        for seed in RetrievalFixtures.seeds {
            let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: input, hidden: hidden, seed: seed)
            expectClose(Self.run(p, x, history), Self.reference(p, x: x, history: history), rtol: 1e-4, atol: 1e-5)
        }
    }

    @Test func `padding positions do not change the output`() {
        let (p, x, history) = Self.setup(count: 5, maxLength: 4, input: 3, hidden: 4, seed: 3)
        var changed = x
        for b in 0..<5 {
            for t in Int(history.lengths[b])..<4 { for i in 0..<3 { changed.scalars[(t * 5 + b) * 3 + i] = 7 } }
        }
        #expect(changed != x)
        #expect(Self.run(p, changed, history) == Self.run(p, x, history))
    }

    @Test(arguments: [(1, 3), (5, 4)])
    func `GRU backward matches finite differences for every parameter and the input`(count: Int, maxLength: Int) {
        let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: 3, hidden: 4, seed: 4)
        let w = randomTensor([count, 4], seed: 44)
        var ws = GRUWorkspace(), out = Tensor(shape: [0, 0])
        GRU.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        var g = p.zeros()
        var dx: Tensor? = Tensor(shape: x.shape)
        GRU.backward(p, sequence: x, history: history, workspace: &ws, dOutput: w, gradients: &g, dSequence: &dx)
        func loss(_ q: GRUParameters, _ xs: Tensor) -> Double { weightedSum(Self.run(q, xs, history), w) }
        gradientCheck(dx!, of: { loss(p, $0) }, at: x, step: 1e-2, "dx")
        let fields: [(String, WritableKeyPath<GRUParameters, Tensor>)] = [
            ("W_x", \.inputWeight), ("W_h", \.hiddenWeight), ("b_x", \.inputBias), ("b_h", \.hiddenBias),
        ]
        for (name, path) in fields {
            gradientCheck(g[keyPath: path], of: { t in var q = p; q[keyPath: path] = t; return loss(q, x) },
                          at: p[keyPath: path], step: 1e-2, name)
        }
    }
}
