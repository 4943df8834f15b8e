import Foundation
import Testing
import TensorCore
@testable import MetaTrain

@Suite struct BaselinesTests {
    /// `(AᵀA + λI)⁻¹ Aᵀy` by Gauss–Jordan elimination with partial pivoting on the explicit matrix.
    static func naiveRidge(_ a: [Double], _ y: [Double], d: Int, l2: Double) -> [Double] {
        let n = y.count
        var m = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: d)
        for i in 0..<d {
            for j in 0..<d {
                var s = i == j ? l2 : 0
                for r in 0..<n { s += a[r * d + i] * a[r * d + j] }
                m[i][j] = s
            }
            for r in 0..<n { m[i][d] += a[r * d + i] * y[r] }
        }
        for c in 0..<d {
            let p = (c..<d).max { abs(m[$0][c]) < abs(m[$1][c]) }!
            m.swapAt(c, p)
            for r in 0..<d where r != c {
                let f = m[r][c] / m[c][c]
                for j in c...d { m[r][j] -= f * m[c][j] }
            }
        }
        return (0..<d).map { m[$0][d] / m[$0][$0] }
    }

    static func random(_ count: Int, _ rng: inout SeededRandom) -> [Double] {
        (0..<count).map { _ in Double(rng.nextNormal()) }
    }

    @Test(arguments: [(1, 1), (1, 5), (4, 7), (50, 33), (200, 9)])
    func `ridge solve matches a naive Gauss-Jordan reference`(n: Int, d: Int) {
        var rng = SeededRandom(seed: UInt64(n * 100 + d))
        let a = Self.random(n * d, &rng), y = Self.random(n, &rng)
        for l2 in [0.01, 1, 30] {
            let x = RidgeRegression.solve(rows: a, targets: y, dimension: d, l2: l2)
            let reference = Self.naiveRidge(a, y, d: d, l2: l2)
            for (u, v) in zip(x, reference) { #expect(abs(u - v) <= 1e-9 * max(1, abs(v)), "n \(n) d \(d) λ \(l2): \(u) vs \(v)") }
            // Optimality: Aᵀ(Ax − y) + λx = 0.
            for i in 0..<d {
                var g = l2 * x[i]
                for r in 0..<n {
                    var ax = 0.0
                    for j in 0..<d { ax += a[r * d + j] * x[j] }
                    g += a[r * d + i] * (ax - y[r])
                }
                #expect(abs(g) < 1e-8, "gradient \(g) at coordinate \(i)")
            }
        }
    }

    @Test func `an augmented constant column is an intercept regularised like the factors`() {
        var rng = SeededRandom(seed: 9)
        let n = 12, f = 4
        let q = Self.random(n * f, &rng), y = Self.random(n, &rng).map { $0 + 3 }
        var system = RidgeSystem(dimension: f + 1)
        q.withUnsafeBufferPointer { q in
            for r in 0..<n { system.add(UnsafeBufferPointer(rebasing: q[(r * f)..<((r + 1) * f)]), constant: true, target: y[r]) }
        }
        var x = [Double](repeating: 0, count: f + 1)
        system.solve(l2: 0.5, into: &x)
        var explicit: [Double] = []
        for r in 0..<n { explicit += q[(r * f)..<((r + 1) * f)] + [1] }
        let reference = Self.naiveRidge(explicit, y, d: f + 1, l2: 0.5)
        for (u, v) in zip(x, reference) { #expect(abs(u - v) < 1e-10) }
    }

    @Test func `item mean shrinks toward the global mean and popularity counts ratings`() {
        var data = RatingMatrix()
        data.add(user: "a", item: "once", rating: 5)
        for u in 0..<100 { data.add(user: "u\(u)", item: "loved", rating: u % 5 == 0 ? 4 : 4.75) }
        for u in 0..<20 { data.add(user: "u\(u)", item: "meh", rating: 2) }
        let stats = ItemStatistics(data)
        let mu = data.globalMean
        #expect(abs(stats.shrunkMean("once", priorCount: 5) - (5 + 5 * mu) / 6) < 1e-12)
        #expect(stats.shrunkMean("loved", priorCount: 5) > stats.shrunkMean("once", priorCount: 5))
        #expect(stats.shrunkMean("once", priorCount: 0) == 5)
        #expect(stats.shrunkMean("never", priorCount: 5) == mu)
        #expect(stats.popularity("loved") == 100 && stats.popularity("meh") == 20 && stats.popularity("never") == 0)
        let baseline = Baseline(fitting: .popularity, to: data)
        #expect(baseline.scores(HeldOutRatings(support: [], query: ["meh", "loved", "never"])) == [20, 100, 0])
    }

    /// Ratings `3 + 0.3·c_i + p_u·q_i + ε` of rank 3 with small item effects: the order of a
    /// user's items is personal, so a per-item score cannot recover it.
    struct Planted {
        var training = RatingMatrix()
        var heldOut: [(ratings: HeldOutRatings, truth: [Double])] = []

        init(seed: UInt64, users: Int = 300, items: Int = 150, heldOutUsers: Int = 40) {
            var rng = SeededRandom(seed: seed)
            let rank = 3
            let q = (0..<(items * rank)).map { _ in Double(rng.nextNormal()) }
            let c = (0..<items).map { _ in 0.3 * Double(rng.nextNormal()) }
            func user(_ rng: inout SeededRandom) -> (Int) -> Double {
                let p = (0..<rank).map { _ in 0.8 * Double(rng.nextNormal()) }
                return { i in 3 + c[i] + (0..<rank).reduce(0) { $0 + p[$1] * q[i * rank + $1] } }
            }
            for u in 0..<users {
                let truth = user(&rng)
                for i in (0..<items).shuffled(using: &rng).prefix(40) {
                    training.add(user: "t\(u)", item: "i\(i)", rating: truth(i) + 0.3 * Double(rng.nextNormal()))
                }
            }
            for _ in 0..<heldOutUsers {
                let truth = user(&rng)
                let chosen = (0..<items).shuffled(using: &rng).prefix(45)
                let support = chosen.prefix(25).map { (item: "i\($0)", rating: truth($0) + 0.3 * Double(rng.nextNormal())) }
                let query = Array(chosen.suffix(20))
                heldOut.append((HeldOutRatings(support: support, query: query.map { "i\($0)" }), query.map(truth)))
            }
        }

        /// Mean over held-out users of the Pearson correlation of scores with the true ratings.
        func meanCorrelation(_ baseline: Baseline) -> Double {
            var sum = 0.0
            for (ratings, truth) in heldOut {
                let s = baseline.scores(ratings)
                let ms = s.reduce(0, +) / Double(s.count), mt = truth.reduce(0, +) / Double(truth.count)
                var sst = 0.0, ss = 0.0, tt = 0.0
                for (a, b) in zip(s, truth) { sst += (a - ms) * (b - mt); ss += (a - ms) * (a - ms); tt += (b - mt) * (b - mt) }
                sum += ss > 0 ? sst / (ss * tt).squareRoot() : 0
            }
            return sum / Double(heldOut.count)
        }
    }

    @Test(arguments: [1 as UInt64, 2])
    func `matrix factorisation with a ridge fold-in recovers a planted low-rank order that item means miss`(seed: UInt64) throws {
        let planted = Planted(seed: seed)
        let settings = try MatrixFactorization.Settings(factors: 8, l2: 3, epochs: 10, seed: seed)
        let mf = Baseline(fitting: .matrixFactorization(settings), to: planted.training)
        let itemMean = Baseline(fitting: .itemMean(priorCount: 5), to: planted.training)
        let mfCorrelation = planted.meanCorrelation(mf), itemCorrelation = planted.meanCorrelation(itemMean)
        #expect(mfCorrelation > 0.95, "mf \(mfCorrelation)")   // 0.993 at both seeds
        #expect(mfCorrelation > itemCorrelation + 0.5, "mf \(mfCorrelation), item mean \(itemCorrelation)")
        if case .matrixFactorization(let model) = mf {
            #expect(model.trainingRMSE.last! < 0.4, "training RMSE \(model.trainingRMSE)")
        }
        // Seeded: a second run gives the same scores.
        let again = Baseline(fitting: .matrixFactorization(settings), to: planted.training)
        #expect(again.scores(planted.heldOut[0].ratings) == mf.scores(planted.heldOut[0].ratings))
    }

    @Test func `the fold-in is the ridge solve over known support items and unseen items score mu plus the user bias`() throws {
        let planted = Planted(seed: 3, users: 60, items: 40, heldOutUsers: 1)
        let mf = MatrixFactorization(training: planted.training, settings: try MatrixFactorization.Settings(factors: 4, l2: 2, epochs: 3))
        let support = planted.heldOut[0].ratings.support + [(item: "unseen", rating: 5.0)]
        let user = mf.foldIn(support: support)
        var rows: [Double] = [], targets: [Double] = []
        for (item, rating) in support {
            guard let i = mf.itemIndex[item] else { continue }
            rows += mf.itemFactors[(i * 4)..<(i * 4 + 4)] + [1]
            targets.append(rating - mf.globalMean - mf.itemBiases[i])
        }
        let reference = Self.naiveRidge(rows, targets, d: 5, l2: 2)
        for (u, v) in zip(user.factors + [user.bias], reference) { #expect(abs(u - v) < 1e-9) }
        #expect(mf.score(user, item: "unseen") == mf.globalMean + user.bias)
        #expect(mf.foldIn(support: []) == MatrixFactorization.UserVector(factors: [0, 0, 0, 0], bias: 0))
    }

    @Test func `nDCG is 1 for the ideal order and skips users without gain`() {
        #expect(RankingCriterion.ndcg(scores: [3, 2, 1], ratings: [5, 4, 1], k: 10) == 1)
        let reversed = RankingCriterion.ndcg(scores: [1, 2, 3], ratings: [5, 4, 1], k: 10)!
        #expect(reversed < 1 && reversed > 0)
        #expect(RankingCriterion.ndcg(scores: [1, 2], ratings: [0, 0], k: 10) == nil)
    }
}
