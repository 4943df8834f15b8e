import Models
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

    @Test func `selecting reorders every column consistently`() {
        let batch = randomBatch(rows: 6, layout: Self.layout, tasks: Self.tasks, seed: 4)
        let picked = batch.selecting(rows: [5, 0, 3])
        #expect(picked.count == 3)
        for (i, r) in [5, 0, 3].enumerated() {
            #expect(picked.timestamps[i] == batch.timestamps[r])
            #expect(picked.taskKeys[i] == batch.taskKeys[r])
            #expect(Array(picked.categorical[(i * 2)..<(i * 2 + 2)]) == Array(batch.categorical[(r * 2)..<(r * 2 + 2)]))
            #expect(Array(picked.multiCategorical[1].keys(ofRow: i)) == Array(batch.multiCategorical[1].keys(ofRow: r)))
            #expect(Array(picked.numeric[(i * 3)..<(i * 3 + 3)]) == Array(batch.numeric[(r * 3)..<(r * 3 + 3)]))
        }
    }
}
