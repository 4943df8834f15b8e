import Foundation
import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct ConvMaxPoolTests {
    /// Every window of every history convolved and pooled in Double, from the definition.
    static func reference(_ p: ConvParameters, x: Tensor, history: HistoryBatch) -> Tensor {
        let count = history.count, input = x.shape[1], f = p.filters, w = p.weight.shape[0] / input
        var out = Tensor(shape: [count, f])
        for b in 0..<count {
            let n = Int(history.lengths[b])
            guard n > 0 else { continue }
            for k in 0..<f {
                var best = -Double.infinity
                for t in 0..<max(1, n - w + 1) {
                    var y = Double(p.bias.scalars[k])
                    for j in 0..<w where t + j < n {
                        for c in 0..<input {
                            y += Double(x.scalars[((t + j) * count + b) * input + c]) * Double(p.weight.scalars[(j * input + c) * f + k])
                        }
                    }
                    best = max(best, max(0, y))
                }
                out.scalars[b * f + k] = Float(best)
            }
        }
        return out
    }

    static func setup(count: Int, maxLength: Int, input: Int, width: Int, filters: Int, seed: UInt64) -> (ConvParameters, Tensor, HistoryBatch) {
        var rng = SeededRandom(seed: seed)
        var p = ConvParameters(inputs: input, width: width, filters: filters, using: &rng)
        p.bias = randomTensor([filters], seed: seed + 7)  // nonzero, so the bias path is exercised
        let history = RetrievalFixtures.histories(count: count, maxLength: maxLength, items: 9, seed: seed)
        let x = randomTensor([maxLength * count, input], seed: seed + 100)
        return (p, x, history)
    }

    static func run(_ p: ConvParameters, _ x: Tensor, _ history: HistoryBatch) -> Tensor {
        var ws = ConvWorkspace(), out = RetrievalFixtures.garbage([history.count, p.filters])
        ConvMaxPool.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        return out
    }

    @Test(arguments: [(1, 3, 2, 1, 3), (6, 5, 3, 2, 4), (7, 6, 4, 3, 5), (5, 4, 3, 4, 2)])
    func `forward matches a naive reference, short and empty histories included`(
        count: Int, maxLength: Int, input: Int, width: Int, filters: Int
    ) {
        for seed in RetrievalFixtures.seeds {
            let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: input, width: width, filters: filters, seed: seed)
            expectClose(Self.run(p, x, history), Self.reference(p, x: x, history: history), rtol: 1e-4, atol: 1e-5)
        }
    }

    @Test func `an empty history encodes to zeros and padding positions do not change the output`() {
        var history = HistoryBatch(maxLength: 4)
        history.append([Int32]())
        history.append([3, 1])
        history.append([5, 2, 7, 1])
        let (p, _, _) = Self.setup(count: 3, maxLength: 4, input: 3, width: 3, filters: 4, seed: 5)
        let x = randomTensor([12, 3], seed: 51)
        let out = Self.run(p, x, history)
        #expect(Array(out.scalars[0..<4]) == [0, 0, 0, 0])
        var changed = x
        for b in 0..<3 {
            for t in Int(history.lengths[b])..<4 { for i in 0..<3 { changed.scalars[(t * 3 + b) * 3 + i] = 9 } }
        }
        #expect(changed != x)
        #expect(Self.run(p, changed, history) == out)
    }

    @Test(arguments: [(1, 3, 2), (5, 5, 3), (4, 4, 4)])
    func `backward matches finite differences for the filters, the bias and the input`(count: Int, maxLength: Int, width: Int) {
        let (p, x, history) = Self.setup(count: count, maxLength: maxLength, input: 3, width: width, filters: 4, seed: 6)
        let w = randomTensor([count, 4], seed: 66)
        var ws = ConvWorkspace(), out = Tensor(shape: [0, 0])
        ConvMaxPool.forward(p, sequence: x, history: history, workspace: &ws, output: &out)
        var g = p.zeros()
        var dx = Tensor(shape: x.shape)
        ConvMaxPool.backward(p, history: history, workspace: &ws, dOutput: w, gradients: &g, dSequence: &dx)
        #expect(g.weight.scalars.contains { $0 != 0 }, "some filter is active, so the check below is not vacuous")
        func loss(_ q: ConvParameters, _ xs: Tensor) -> Double { weightedSum(Self.run(q, xs, history), w) }
        // A small step: max-pooling and the ReLU are piecewise linear, so a step must not cross a kink.
        gradientCheck(dx, of: { loss(p, $0) }, at: x, step: 1e-3, "dx")
        gradientCheck(g.weight, of: { t in var q = p; q.weight = t; return loss(q, x) }, at: p.weight, step: 1e-3, "W")
        gradientCheck(g.bias, of: { t in var q = p; q.bias = t; return loss(q, x) }, at: p.bias, step: 1e-3, "b")
    }
}
