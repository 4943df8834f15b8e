import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct ColumnBlockTests {
        /// Block widths of one concatenation (a zero-width block included in one case).
        struct Layout: Sendable, CustomTestStringConvertible {
            var rows: Int, widths: [Int]
            var testDescription: String { "B=\(rows) widths=\(widths)" }
            var offsets: [Int] { widths.reduce(into: [0]) { $0.append($0.last! + $1) } }
        }

        static let layouts: [Layout] = [
            Layout(rows: 1, widths: [1]),
            Layout(rows: 1, widths: [7, 13, 1]),
            Layout(rows: 7, widths: [3, 0, 13]),
            Layout(rows: 13, widths: [4, 4, 7, 2]),
        ]

        static func blocks(_ l: Layout, seed: UInt64) -> [Tensor] {
            l.widths.enumerated().map { randomTensor([l.rows, $1], seed: seed + UInt64($0) * 10) }
        }

        @Test(arguments: layouts, OpsFixtures.seeds)
        func `column block concatenate matches a naive reference and split inverts it`(l: Layout, seed: UInt64) {
            let parts = Self.blocks(l, seed: seed)
            let x = ColumnBlock.concatenate(parts)
            #expect(x.shape == [l.rows, l.widths.reduce(0, +)])
            for (k, block) in parts.enumerated() {
                for i in 0..<l.rows {
                    for j in 0..<l.widths[k] { #expect(x[i, l.offsets[k] + j] == block[i, j]) }
                }
            }
            #expect(ColumnBlock.split(x, widths: l.widths) == parts)
        }

        @Test(arguments: layouts, OpsFixtures.seeds)
        func `column block copy touches only its columns and accumulate is its backward`(l: Layout, seed: UInt64) {
            let d = l.widths.reduce(0, +)
            let background = randomTensor([l.rows, d], seed: seed + 999)
            let upstream = randomTensor([l.rows, d], seed: seed + 777)
            for (k, block) in Self.blocks(l, seed: seed).enumerated() {
                let column = l.offsets[k]
                let copied = { (source: Tensor) -> Tensor in
                    var x = background
                    ColumnBlock.copy(source, into: &x, atColumn: column)
                    return x
                }
                let x = copied(block)
                for i in 0..<l.rows {
                    for j in 0..<d {
                        let inside = j >= column && j < column + l.widths[k]
                        #expect(x[i, j] == (inside ? block[i, j - column] : background[i, j]))
                    }
                }
                var dBlock = Tensor(shape: block.shape)
                ColumnBlock.accumulate(from: upstream, atColumn: column, into: &dBlock)
                gradientCheck(dBlock, of: { weightedSum(copied($0), upstream) }, at: block, "block \(k)")
                let once = dBlock
                ColumnBlock.accumulate(from: upstream, atColumn: column, into: &dBlock)
                expectClose(dBlock, 2 * once, rtol: 1e-6, atol: 0, "accumulates, block \(k)")
            }
        }

        @Test func `column block traps when a block does not fit`() async {
            await #expect(processExitsWith: .failure) {
                var x = Tensor.zeros(2, 5)
                ColumnBlock.copy(.zeros(2, 3), into: &x, atColumn: 3)
            }
            await #expect(processExitsWith: .failure) {
                _ = ColumnBlock.concatenate([.zeros(2, 3), .zeros(3, 3)])
            }
            await #expect(processExitsWith: .failure) {
                _ = ColumnBlock.split(.zeros(2, 5), widths: [2, 2])
            }
        }
    }
}
