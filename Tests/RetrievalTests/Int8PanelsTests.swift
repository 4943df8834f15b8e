import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct Int8PanelsTests {
    /// The query's int8 terms as the scan forms them: codes, scale, and the bound's Q1 = ‖q‖,
    /// Q2 = ‖q − q̂‖ + 2.0001·u·‖q̂‖ (in Double, not widened).
    static func quantized(_ q: [Float]) -> (codes: [Int], scale: Float, q1: Double, q2: Double) {
        let scale = q.reduce(Float(0)) { max($0, abs($1)) } / 127
        let codes = q.map { scale > 0 ? Int(max(-127, min(127, ($0 / scale).rounded()))) : 0 }
        let qhat = codes.map { Double(scale) * Double($0) }
        let residual = zip(q, qhat).reduce(0.0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }.squareRoot()
        let norm = q.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return (codes, scale, norm, residual + 2.0001 * 0x1p-24 * qhat.reduce(0.0) { $0 + $1 * $1 }.squareRoot())
    }

    /// The scan's approximate score of item i, computed as the kernel does: the exact integer
    /// dot product of the codes, then two float products.
    static func approximate(_ p: Int8Panels, _ i: Int, _ q: (codes: [Int], scale: Float, q1: Double, q2: Double)) -> Float {
        let (panel, lane) = i.quotientAndRemainder(dividingBy: TopNScan.lanes)
        var t = 0
        for j in 0..<q.codes.count {
            t += q.codes[j] * (Int(p.codes[((panel * p.groups + j / 4) * TopNScan.lanes + lane) * 4 + j % 4]) - 128)
        }
        return (Float(t) * p.scales[i]) * q.scale
    }

    /// |s_i − a_i| ≤ Q1·e_i + Q2·n_i for every item and query, and the bound is not vacuous (within
    /// 20× of the largest error seen, so the scan does not re-score half the catalogue).
    @Test(arguments: [(2000, 64, Float(1)), (500, 7, Float(1e-3)), (500, 64, Float(1e4))])
    func `the per-item bound covers the int8 error`(shape: (Int, Int, Float)) {
        let (n, d, scale) = shape
        let items = randomTensor([n, d], seed: 21, scale: scale), panels = Int8Panels(items: items)
        var worstRatio = 0.0
        for seed in 0..<5 {
            let q = randomTensor([d], seed: UInt64(100 + seed), scale: seed == 4 ? 1e-12 : 1).scalars
            let quantized = Self.quantized(q)
            for i in 0..<n {
                let error = abs(Double(ScanReference.score(items, i, q)) - Double(Self.approximate(panels, i, quantized)))
                let bound = quantized.q1 * Double(panels.errors[i]) + quantized.q2 * Double(panels.norms[i])
                #expect(error <= bound, "item \(i) seed \(seed): |s − a| = \(error) > \(bound)")
                worstRatio = max(worstRatio, error / bound)
            }
        }
        #expect(worstRatio > 0.05, "the bound is loose: worst |s − a| / bound = \(worstRatio)")
    }

    /// Items built so that the int8 scores order them differently from the exact scores: the
    /// approximate top-k is wrong, the scan's (after re-scoring the candidates) is the exact one.
    @Test func `the bound makes the result exact where the int8 ranking is wrong`() {
        let n = 3000, d = 64, k = 20
        var rng = SeededRandom(seed: 31)
        var v = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            v[i * d] = 127                                        // fixes scale = 1: codes round the rest
            for j in 1..<d { v[i * d + j] = Float(Int.random(in: -3...3, using: &rng)) + Float.random(in: -0.49...0.49, using: &rng) }
        }
        let items = Tensor(shape: [n, d], scalars: v)
        let q = Tensor(shape: [d], scalars: [0] + (1..<d).map { _ in Float.random(in: -1...1, using: &rng) })
        let panels = Int8Panels(items: items)
        let quantized = Self.quantized(q.scalars)
        let approx = (0..<n).map { Self.approximate(panels, $0, quantized) }
        let order: [Int] = (0..<n).sorted { (a: Int, b: Int) -> Bool in approx[a] != approx[b] ? approx[a] > approx[b] : a < b }
        let approximateTop: [Int32] = order.prefix(k).map { Int32($0) }
        let expected = ScanReference.topK(items, q.scalars, k: k)
        #expect(approximateTop != expected.map(\.id), "the int8 ranking alone should be wrong here")
        var scan = CatalogueScan(items: items, precision: .int8)
        scan.search(query: q, k: k, excluding: [Int32]())
        #expect(scan.results.map(\.id) == expected.map(\.id))
        #expect(scan.results.map(\.score) == expected.map(\.score))
        #expect(scan.rescored > k && !scan.fellBack)
    }

    /// Items exactly representable in int8 (v̂ = v) and a query that is not: all of the error is
    /// the query's quantization (the Q2 term); the int8 ranking is wrong, the scan's is exact.
    @Test func `the query's quantization error is covered`() {
        let n = 20_000, d = 64, k = 100
        var rng = SeededRandom(seed: 41)
        var v = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            v[i * d] = 127
            for j in 1..<d { v[i * d + j] = Float(Int.random(in: -127...127, using: &rng)) }
        }
        let items = Tensor(shape: [n, d], scalars: v)
        let q = Tensor(shape: [d], scalars: [0.001] + (1..<d).map { _ in Float.random(in: -1...1, using: &rng) })
        let panels = Int8Panels(items: items)
        #expect(panels.scales.prefix(n).allSatisfy { $0 == 1 })
        let quantized = Self.quantized(q.scalars)
        let approx = (0..<n).map { Self.approximate(panels, $0, quantized) }
        let order: [Int] = (0..<n).sorted { (a: Int, b: Int) -> Bool in approx[a] != approx[b] ? approx[a] > approx[b] : a < b }
        let expected = ScanReference.topK(items, q.scalars, k: k)
        #expect(Set(order.prefix(k).map { Int32($0) }) != Set(expected.map(\.id)), "the int8 top-k set alone should be wrong here")
        var scan = CatalogueScan(items: items, precision: .int8)
        scan.search(query: q, k: k, excluding: [Int32]())
        #expect(scan.results.map(\.id) == expected.map(\.id))
        #expect(scan.results.map(\.score) == expected.map(\.score))
    }
}
