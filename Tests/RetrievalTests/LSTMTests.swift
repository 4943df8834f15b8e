import Foundation
import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct LSTMTests {
    /// The recurrence written out per row and unit in Double, from the definition (not the kernel).
    static func reference(_ p: LSTMParameters, x: Tensor, history: HistoryBatch) -> Tensor {
        let count = history.count, h = p.hiddenWidth, input = p.inputWidth
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        var out = Tensor(shape: [count, h])
        for b in 0..<count {
            var state = [Double](repeating: 0, count: h), cell = [Double](repeating: 0, count: h)
            for t in 0..<Int(history.lengths[b]) {
                func pre(_ gate: Int, _ j: Int) -> Double {
                    let col = gate * h + j
                    var s = Double(p.bias.scalars[col])
                    for i in 0..<h { s += state[i] * Double(p.hiddenWeight.scalars[i * 4 * h + col]) }
                    for i in 0..<input { s += Double(x.scalars[(t * count + b) * input + i]) * Double(p.inputWeight.scalars[i * 4 * h + col]) }
                    return s
                }
                var next = state
                for j in 0..<h {
                    let (i, f, g, o) = (sigmoid(pre(0, j)), sigmoid(pre(1, j)), tanh(pre(2, j)), sigmoid(pre(3, j)))
                    cell[j] = f * cell[j] + i * g
                    next[j] = o * tanh(cell[j])
                }
                state = next
            }
            for j in 0..<h { out.scalars[b * h + j] = Float(state[j]) }
        }
        return out
    }

    static func setup(count: Int, maxLength: Int, input: Int, hidden: Int, seed: UInt64) -> (LSTMParameters, Tensor, HistoryBatch) {
        var rng = SeededRandom(seed: seed)
        let p = LSTMParameters(inputs: input, hidden: hidden, using: &rng)
        let history = RetrievalFixtures.histories(count: count, maxLength: maxLength, items: 9, seed: seed)
        let x = randomTensor([maxLength * count, input], seed: seed + 100)
        return (p, x, history)
    }

    static func run(_ p: LSTMParameters, _ x: Tensor, _ history: HistoryBatch) -> Tensor {
        var ws = LSTMWorkspace(), out = RetrievalFixtures.garbage([history.count, p.hiddenWidth])
        LSTM.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        return out
    }

    @Test(arguments: [(1, 3, 2, 3), (6, 4, 3, 5), (7, 5, 4, 4)])
    func `LSTM forward matches a naive reference with padding`(count: Int, maxLength: Int, input: Int, hidden: Int) {
        for seed in RetrievalFixtures.seeds {
            let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: input, hidden: hidden, seed: seed)
            expectClose(Self.run(p, x, history), Self.reference(p, x: x, history: history), rtol: 1e-4, atol: 1e-5)
        }
    }

    @Test func `the forget gate starts open and padding positions do not change the output`() {
        let (p, x, history) = Self.setup(count: 5, maxLength: 4, input: 3, hidden: 4, seed: 3)
        #expect(Array(p.bias.scalars[4..<8]) == [1, 1, 1, 1])
        #expect(!p.bias.scalars[0..<4].contains(1))
        var changed = x
        for b in 0..<5 {
            for t in Int(history.lengths[b])..<4 { for i in 0..<3 { changed.scalars[(t * 5 + b) * 3 + i] = 7 } }
        }
        #expect(changed != x)
        #expect(Self.run(p, changed, history) == Self.run(p, x, history))
    }

    @Test(arguments: [(1, 3), (5, 4)])
    func `LSTM backward matches finite differences for every parameter and the input`(count: Int, maxLength: Int) {
        let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: 3, hidden: 4, seed: 4)
        let w = randomTensor([count, 4], seed: 44)
        var ws = LSTMWorkspace(), out = Tensor(shape: [0, 0])
        LSTM.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        var g = p.zeros()
        var dx: Tensor? = Tensor(shape: x.shape)
        LSTM.backward(p, sequence: x, history: history, workspace: &ws, dOutput: w, gradients: &g, dSequence: &dx)
        func loss(_ q: LSTMParameters, _ xs: Tensor) -> Double { weightedSum(Self.run(q, xs, history), w) }
        gradientCheck(dx!, of: { loss(p, $0) }, at: x, step: 1e-2, "dx")
        let fields: [(String, WritableKeyPath<LSTMParameters, Tensor>)] = [
            ("W_x", \.inputWeight), ("W_h", \.hiddenWeight), ("b", \.bias),
        ]
        for (name, path) in fields {
            gradientCheck(g[keyPath: path], of: { t in var q = p; q[keyPath: path] = t; return loss(q, x) },
                          at: p[keyPath: path], step: 1e-2, name)
        }
    }
}
