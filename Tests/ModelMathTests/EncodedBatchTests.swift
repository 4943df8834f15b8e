import ModelMath
import TestSupport
import Testing

@Suite struct EncodedBatchTests {
    static let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean, .sum], numericCount: 3, embeddingDimension: 2)
    static let tasks = [TaskSpec(name: "a", kind: .binary), TaskSpec(name: "b", kind: .regression)]

    @Test func `selecting halves and appending them rebuilds the batch`() {
        let batch = randomBatch(rows: 11, layout: Self.layout, tasks: Self.tasks, seed: 3)
        var rebuilt = batch.selecting(rows: 0..<4)
        rebuilt.append(contentsOf: batch.selecting(rows: 4..<11))
        // NaN labels make == false; compare their bit patterns instead.
        #expect(rebuilt.labels.map(\.bitPattern) == batch.labels.map(\.bitPattern))
        var a = rebuilt, b = batch
        a.labels = []; b.labels = []
        #expect(a == b)
    }

    /// Runs of consecutive rows are copied as blocks: runs of every length, at the start, the
    /// end, after a jump backwards, and single rows between them.
    @Test(arguments: [[5, 0, 3], [2, 3, 4, 9, 0, 1, 7, 8, 11], Array(0..<12), [11], [4, 5, 5, 6, 3]])
    func `selecting reorders every column consistently`(rows: [Int]) {
        let batch = randomBatch(rows: 12, layout: Self.layout, tasks: Self.tasks, seed: 4)
        let picked = batch.selecting(rows: rows)
        #expect(picked.count == rows.count)
        for (i, r) in rows.enumerated() {
            #expect(picked.timestamps[i] == batch.timestamps[r])
            #expect(picked.taskKeys[i] == batch.taskKeys[r])
            #expect(Array(picked.categorical[(i * 2)..<(i * 2 + 2)]) == Array(batch.categorical[(r * 2)..<(r * 2 + 2)]))
            #expect(Array(picked.multiCategorical[1].keys(ofRow: i)) == Array(batch.multiCategorical[1].keys(ofRow: r)))
            #expect(Array(picked.numeric[(i * 3)..<(i * 3 + 3)]) == Array(batch.numeric[(r * 3)..<(r * 3 + 3)]))
            #expect(Array(picked.labels[(i * 2)..<(i * 2 + 2)]).map(\.bitPattern) == Array(batch.labels[(r * 2)..<(r * 2 + 2)]).map(\.bitPattern))
        }
    }
}
