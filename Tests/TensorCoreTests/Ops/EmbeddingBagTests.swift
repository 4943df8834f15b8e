import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct EmbeddingBagTests {
        /// A table of `rows × width` and explicit bags of row ids (empty bags and repeats included).
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            var rows: Int, width: Int
            var bags: [[Int32]]
            var testDescription: String { "\(name): U=\(rows) d=\(width) B=\(bags.count)" }

            var offsets: [Int32] { bags.reduce(into: [0]) { $0.append($0.last! + Int32($1.count)) } }
            var ids: [Int32] { bags.flatMap { $0 } }
        }

        static let cases: [Case] = [
            Case(name: "1×1 single id", rows: 1, width: 1, bags: [[0]]),
            Case(name: "one bag, repeated id", rows: 3, width: 7, bags: [[2, 0, 2, 2]]),
            Case(name: "single-valued feature", rows: 5, width: 13, bags: [[4], [0], [4], [1], [3], [2], [0]]),
            Case(name: "empty bags first, middle and last", rows: 6, width: 7,
                 bags: [[], [1, 5], [], [3, 3, 0], [5], []]),
            Case(name: "all bags empty", rows: 2, width: 3, bags: [[], []]),
            Case(name: "ids shared across bags", rows: 4, width: 13,
                 bags: [[0, 1, 2, 3], [3, 2], [1, 1, 1], [0], [2, 0, 2], [3, 3, 3, 3, 3], [1, 2], [0, 3], [2]]),
        ]

        static let poolings: [EmbeddingBag.Pooling] = [.sum, .mean]

        static func apply(_ table: Tensor, _ c: Case, _ pooling: EmbeddingBag.Pooling) -> Tensor {
            var out = OpsFixtures.garbage([c.bags.count, c.width])
            EmbeddingBag.forward(table: table, offsets: c.offsets, ids: c.ids, pooling: pooling, output: &out)
            return out
        }

        @Test(arguments: cases, poolings)
        func `embedding bag forward matches a naive reference`(c: Case, pooling: EmbeddingBag.Pooling) {
            for seed in OpsFixtures.seeds {
                let table = randomTensor([c.rows, c.width], seed: seed)
                var expected = Tensor(shape: [c.bags.count, c.width])
                for (b, bag) in c.bags.enumerated() where !bag.isEmpty {
                    for j in 0..<c.width {
                        var s = 0.0
                        for id in bag { s += Double(table[Int(id), j]) }
                        expected[b, j] = Float(pooling == .mean ? s / Double(bag.count) : s)
                    }
                }
                expectClose(Self.apply(table, c, pooling), expected, rtol: 1e-5, atol: 1e-6, "seed \(seed)")
            }
        }

        @Test(arguments: cases, poolings)
        func `embedding bag backward matches finite differences and accumulates`(c: Case, pooling: EmbeddingBag.Pooling) {
            for seed in OpsFixtures.seeds {
                let table = randomTensor([c.rows, c.width], seed: seed)
                let upstream = randomTensor([c.bags.count, c.width], seed: seed + 100)
                var dTable = Tensor(shape: table.shape)
                EmbeddingBag.backward(offsets: c.offsets, ids: c.ids, pooling: pooling, dOutput: upstream, dTable: &dTable)
                gradientCheck(dTable, of: { weightedSum(Self.apply($0, c, pooling), upstream) }, at: table, "seed \(seed)")
                let once = dTable
                EmbeddingBag.backward(offsets: c.offsets, ids: c.ids, pooling: pooling, dOutput: upstream, dTable: &dTable)
                expectClose(dTable, 2 * once, rtol: 1e-6, atol: 0, "accumulates, seed \(seed)")
            }
        }

        /// Weights in −1 ... 1 (negative ones included: label-centred weights), one per id.
        static func weights(_ c: Case, seed: UInt64) -> [Float] {
            let w = randomTensor([max(c.ids.count, 1)], seed: seed + 200).scalars
            return Array(w.prefix(c.ids.count))
        }

        static func applyWeighted(_ table: Tensor, _ c: Case, _ weights: [Float]) -> Tensor {
            var out = OpsFixtures.garbage([c.bags.count, c.width])
            EmbeddingBag.forward(table: table, offsets: c.offsets, ids: c.ids, pooling: .weighted, weights: weights, output: &out)
            return out
        }

        @Test(arguments: cases)
        func `weighted embedding bag forward matches a naive reference`(c: Case) {
            for seed in OpsFixtures.seeds {
                let table = randomTensor([c.rows, c.width], seed: seed)
                let w = Self.weights(c, seed: seed)
                var expected = Tensor(shape: [c.bags.count, c.width])
                var i = 0
                for (b, bag) in c.bags.enumerated() {
                    for id in bag {
                        for j in 0..<c.width { expected[b, j] += w[i] * table[Int(id), j] }
                        i += 1
                    }
                }
                expectClose(Self.applyWeighted(table, c, w), expected, rtol: 1e-5, atol: 1e-6, "seed \(seed)")
            }
        }

        @Test func `weighted pooling with weights 1 over n equals mean pooling`() {
            let c = Self.cases[5]
            let table = randomTensor([c.rows, c.width], seed: 7)
            let w = c.bags.flatMap { bag in repeatElement(1 / Float(bag.count), count: bag.count) }
            expectClose(Self.applyWeighted(table, c, w), Self.apply(table, c, .mean), rtol: 1e-5, atol: 1e-6)
        }

        @Test(arguments: cases)
        func `weighted embedding bag backward matches finite differences and accumulates`(c: Case) {
            for seed in OpsFixtures.seeds {
                let table = randomTensor([c.rows, c.width], seed: seed)
                let w = Self.weights(c, seed: seed)
                let upstream = randomTensor([c.bags.count, c.width], seed: seed + 100)
                var dTable = Tensor(shape: table.shape)
                EmbeddingBag.backward(offsets: c.offsets, ids: c.ids, pooling: .weighted, weights: w, dOutput: upstream, dTable: &dTable)
                gradientCheck(dTable, of: { weightedSum(Self.applyWeighted($0, c, w), upstream) }, at: table, "seed \(seed)")
                let once = dTable
                EmbeddingBag.backward(offsets: c.offsets, ids: c.ids, pooling: .weighted, weights: w, dOutput: upstream, dTable: &dTable)
                // Mixed-sign weights cancel, so the second pass's float sums round differently.
                expectClose(dTable, 2 * once, rtol: 1e-5, atol: 1e-6, "accumulates, seed \(seed)")
            }
        }

        @Test func `weighted embedding bag traps without one weight per id`() async {
            await #expect(processExitsWith: .failure) {
                var out = Tensor.zeros(1, 2)
                EmbeddingBag.forward(table: .zeros(3, 2), offsets: [0, 2], ids: [1, 2], pooling: .weighted, weights: [1], output: &out)
            }
        }

        @Test func `embedding bag traps on an id outside the table`() async {
            await #expect(processExitsWith: .failure) {
                var out = Tensor.zeros(1, 2)
                EmbeddingBag.forward(table: .zeros(3, 2), offsets: [0, 2], ids: [1, 3], pooling: .sum, output: &out)
            }
        }

        @Test func `embedding bag traps on decreasing or overrunning offsets`() async {
            await #expect(processExitsWith: .failure) {
                var out = Tensor.zeros(2, 2)
                EmbeddingBag.forward(table: .zeros(3, 2), offsets: [0, 2, 1], ids: [0, 1], pooling: .sum, output: &out)
            }
            await #expect(processExitsWith: .failure) {
                var dTable = Tensor.zeros(3, 2)
                EmbeddingBag.backward(offsets: [0, 3], ids: [0, 1], pooling: .mean, dOutput: .zeros(1, 2), dTable: &dTable)
            }
        }
    }
}
