import Testing
import TensorCore
import TestSupport

@Suite struct TensorTests {
    @Test func `row-major indexing matches the documented layout`() {
        var t = Tensor(shape: [2, 3, 4])
        t[1, 2, 3] = 7
        #expect(t.scalars[(1 * 3 + 2) * 4 + 3] == 7)
        let m = Tensor(rows: [[1, 2, 3], [4, 5, 6]])
        #expect(m[1, 0] == 4)
        #expect(m.row(1) == [4, 5, 6])
    }

    @Test(arguments: SIMDLevel.available)
    func `allFinite finds one non-finite value anywhere, at every level`(level: SIMDLevel) {
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            // Extremes that are finite: the largest float, the smallest subnormal, negative zero.
            var x = (0..<n).map { i -> Float in [Float.greatestFiniteMagnitude, -.leastNonzeroMagnitude, -0.0, 1.5][i % 4] }
            #expect(x.withUnsafeBufferPointer { Tensor.allFinite($0.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n, level: level) },
                    "n \(n)")
            for i in 0..<n {
                for bad in [Float.nan, .infinity, -.infinity] {
                    let kept = x[i]
                    x[i] = bad
                    #expect(!x.withUnsafeBufferPointer { Tensor.allFinite($0.baseAddress!, count: n, level: level) },
                            "n \(n), \(bad) at \(i)")
                    x[i] = kept
                }
            }
        }
        #expect(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, .nan]).isFinite == false)
        #expect(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]).isFinite)
    }

    @Test func `copies are independent values`() {
        let a = Tensor(shape: [2, 2], repeating: 1)
        var b = a
        b[0, 0] = 5
        #expect(a[0, 0] == 1)
        #expect(b[0, 0] == 5)
    }

    /// Column sums run 32 and 8 columns at a time, then one: every width mixes the three.
    @Test(arguments: [(1, 1), (2, 8), (3, 32), (9, 45), (4, 77), (6, 64)])
    func `column sums accumulate the naive Double sums`(m: Int, n: Int) {
        let t = randomTensor([m, n], seed: UInt64(m * 100 + n))
        var out = randomTensor([n], seed: 9)
        let start = out
        t.accumulateColumnSums(into: &out)
        for j in 0..<n {
            var s = Double(start[j])
            for i in 0..<m { s += Double(t[i, j]) }
            #expect(abs(Double(out[j]) - s) < 1e-5 * max(1, abs(s)), "column \(j)")
        }
    }

    @Test func `reductions agree with naive sums`() {
        let t = randomTensor([5, 7], seed: 3)
        let colSums = t.sumOverRows()
        let rowSums = t.sumOverColumns()
        for j in 0..<7 {
            var s: Float = 0
            for i in 0..<5 { s += t[i, j] }
            #expect(abs(colSums[j] - s) < 1e-5)
        }
        for i in 0..<5 {
            #expect(abs(rowSums[i] - t.row(i).reduce(0, +)) < 1e-5)
        }
        expectClose(t.sum(), Double(rowSums.scalars.reduce(0, +)), rtol: 1e-5)
    }

    @Test func `resize reuses storage and keeps the requested shape`() {
        var t = Tensor(shape: [4, 8], repeating: 1)
        t.resize(to: [2, 8], zeroed: true)
        #expect(t.shape == [2, 8])
        #expect(t.scalars.allSatisfy { $0 == 0 })
        t.resize(to: [4, 8])
        #expect(t.count == 32)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func `seeded random streams are reproducible and roughly normal`(seed: UInt64) {
        var a = SeededRandom(seed: seed), b = SeededRandom(seed: seed)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var r = SeededRandom(seed: seed)
        let n = 20_000
        var sum = 0.0, sumSq = 0.0
        for _ in 0..<n {
            let x = Double(r.nextNormal())
            sum += x; sumSq += x * x
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test func `shape mismatch in add is a precondition failure`() async {
        await #expect(processExitsWith: .failure) {
            var a = Tensor(shape: [2, 3])
            a.add(Tensor(shape: [3, 2]))
        }
    }
}
