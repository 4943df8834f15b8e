import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct MaskedMeanTests {
    @Test(arguments: [(1, 4), (5, 3), (9, 6)])
    func `masked mean matches EmbeddingBag mean on the same bags`(count: Int, maxLength: Int) {
        for seed in RetrievalFixtures.seeds {
            let table = randomTensor([11, 5], seed: seed)
            let history = RetrievalFixtures.histories(count: count, maxLength: maxLength, items: 11, seed: seed)
            var out = RetrievalFixtures.garbage([count, 5])
            MaskedMean.forward(table: table, history: history, output: &out)
            let bags = (0..<count).map { Array(history.history($0)) }
            let offsets = bags.reduce(into: [Int32(0)]) { $0.append($0.last! + Int32($1.count)) }
            var expected = Tensor(shape: [count, 5])
            EmbeddingBag.forward(table: table, offsets: offsets, ids: bags.flatMap { $0 }, pooling: .mean, output: &expected)
            expectClose(out, expected)
        }
    }

    @Test func `masked mean of an empty history is zero and ignores padding ids`() {
        var batch = HistoryBatch(maxLength: 3)
        batch.append([Int32]())
        batch.append([Int32(2)])
        let table = randomTensor([4, 2], seed: 3)
        var out = Tensor(shape: [2, 2])
        MaskedMean.forward(table: table, history: batch, output: &out)
        #expect(out.scalars[0] == 0 && out.scalars[1] == 0)
        #expect(out.row(1) == table.row(2))
    }

    @Test func `masked mean backward matches finite differences`() {
        let history = RetrievalFixtures.histories(count: 6, maxLength: 4, items: 7, seed: 5)
        let table = randomTensor([7, 3], seed: 6), w = randomTensor([6, 3], seed: 7)
        var dTable = Tensor(shape: [7, 3])
        MaskedMean.backward(history: history, dOutput: w, dTable: &dTable)
        gradientCheck(dTable, of: { t in
            var out = Tensor(shape: [6, 3])
            MaskedMean.forward(table: t, history: history, output: &out)
            return weightedSum(out, w)
        }, at: table)
    }
}

@Suite struct SequenceGatherTests {
    @Test func `gather writes rows time-major and zeros the padding`() {
        var batch = HistoryBatch(maxLength: 3)
        batch.append([Int32(1), 0])
        batch.append([Int32(2), 2, 1, 0])  // keeps the last 3: 2, 1, 0
        let table = Tensor(rows: [[0, 0.5], [1, 1.5], [2, 2.5]])
        var x = RetrievalFixtures.garbage([6, 2])
        SequenceGather.forward(table: table, history: batch, output: &x)
        // rows t·B + b: (0,0)=1 (0,1)=2 (1,0)=0 (1,1)=1 (2,0)=pad (2,1)=0
        #expect(x.scalars == [1, 1.5, 2, 2.5, 0, 0.5, 1, 1.5, 0, 0, 0, 0.5])
    }

    @Test func `gather backward matches finite differences`() {
        let history = RetrievalFixtures.histories(count: 5, maxLength: 4, items: 6, seed: 8)
        let table = randomTensor([6, 3], seed: 9), w = randomTensor([20, 3], seed: 10)
        var dTable = Tensor(shape: [6, 3])
        SequenceGather.backward(history: history, dOutput: w, dTable: &dTable)
        gradientCheck(dTable, of: { t in
            var x = Tensor(shape: [20, 3])
            SequenceGather.forward(table: t, history: history, output: &x)
            return weightedSum(x, w)
        }, at: table)
    }
}

@Suite struct RowNormalizeTests {
    @Test func `rows have unit length and backward matches finite differences`() {
        let x = randomTensor([4, 5], seed: 11), w = randomTensor([4, 5], seed: 12)
        var y = Tensor(shape: [0, 0]), norms: [Float] = []
        RowNormalize.forward(x, output: &y, norms: &norms)
        for b in 0..<4 { expectClose(Double(y.row(b).reduce(0) { $0 + $1 * $1 }), 1, rtol: 1e-5) }
        var dx = Tensor(shape: [4, 5])
        RowNormalize.backward(output: y, norms: norms, dOutput: w, dInput: &dx)
        gradientCheck(dx, of: { t in
            var out = Tensor(shape: [0, 0]), n: [Float] = []
            RowNormalize.forward(t, output: &out, norms: &n)
            return weightedSum(out, w)
        }, at: x, step: 1e-3)
    }
}

@Suite struct ItemInputTests {
    @Test func `item input concatenates embedding and features; backward matches finite differences`() {
        let table = randomTensor([5, 3], seed: 13), features = randomTensor([5, 2], seed: 14)
        let ids: [Int32] = [4, 0, 4, 2]
        var x = Tensor(shape: [0, 0])
        ItemInput.forward(table: table, features: features, ids: ids, output: &x)
        #expect(x.row(0) == table.row(4) + features.row(4))
        #expect(x.row(3) == table.row(2) + features.row(2))
        let w = randomTensor([4, 5], seed: 15)
        var dTable = Tensor(shape: [5, 3])
        ItemInput.backward(ids: ids, dOutput: w, dTable: &dTable)
        gradientCheck(dTable, of: { t in
            var out = Tensor(shape: [0, 0])
            ItemInput.forward(table: t, features: features, ids: ids, output: &out)
            return weightedSum(out, w)
        }, at: table)
    }
}
