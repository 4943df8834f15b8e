import Foundation
import Retrieval
import TensorCore
import Testing
import TestSupport

/// Per-request adaptation of the user embedding on the history's last items.
@Suite struct UserAdaptationTests {
    static func unitRows(_ shape: [Int], seed: UInt64) -> Tensor { RowNormalizeHelper.unit(randomTensor(shape, seed: seed)) }

    /// `L_S(u) = (1/|S|) Σ_{j∈S} −log softmax(V u / τ)_j` in Double, `u` any vector (not renormalised).
    static func supportLoss(_ u: [Double], items v: Tensor, support: [Int32], temperature: Double) -> Double {
        let (n, d) = (v.shape[0], v.shape[1])
        let z = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + u[$1] * Double(v[i, $1]) } / temperature }
        let m = z.max()!
        let logSum = m + log(z.reduce(0.0) { $0 + exp($1 - m) })
        return support.reduce(0.0) { $0 + logSum - z[Int($1)] } / Double(support.count)
    }

    @Test func `one small step moves u along minus the tangential part of the loss gradient`() throws {
        let items = Self.unitRows([7, 4], seed: 1)
        var users = Self.unitRows([2, 4], seed: 2)
        let before = users
        let histories: [[Int32]] = [[6, 0, 3, 5], [2]]
        let rate: Float = 1e-3, tau: Float = 0.5
        var ws = UserAdaptation.Workspace()
        try UserAdaptation(steps: 1, rate: rate, supportSize: 3).adapt(&users, histories: histories, items: items, temperature: tau, workspace: &ws)
        for b in 0..<2 {
            let u = (0..<4).map { Double(before[b, $0]) }
            let support = Array(histories[b].suffix(3))
            // ∇_u L_S by central differences of the loss written from its definition.
            let g = (0..<4).map { j -> Double in
                var (up, down) = (u, u)
                up[j] += 1e-4
                down[j] -= 1e-4
                return (Self.supportLoss(up, items: items, support: support, temperature: Double(tau))
                        - Self.supportLoss(down, items: items, support: support, temperature: Double(tau))) / 2e-4
            }
            let radial = zip(g, u).reduce(0.0) { $0 + $1.0 * $1.1 }
            for j in 0..<4 {
                let moved = (u[j] - Double(users[b, j])) / Double(rate)  // the step taken, per unit rate
                let expected = g[j] - radial * u[j]
                #expect(abs(moved - expected) <= 2e-2 * max(1, abs(expected)), "user \(b), dimension \(j): \(moved) vs \(expected)")
            }
            #expect(abs((0..<4).reduce(Float(0)) { $0 + users[b, $1] * users[b, $1] } - 1) < 1e-5, "back on the sphere")
        }
    }

    @Test func `adaptation lowers the support loss and raises the support items' mean score`() throws {
        let items = Self.unitRows([30, 6], seed: 3)
        var users = Self.unitRows([1, 6], seed: 4)
        let before = users
        let support: [Int32] = [4, 17, 25]
        var ws = UserAdaptation.Workspace()
        try UserAdaptation(steps: 10, rate: 0.05, supportSize: 3).adapt(&users, histories: [support], items: items, temperature: 0.2, workspace: &ws)
        let loss = { (t: Tensor) in Self.supportLoss((0..<6).map { Double(t[0, $0]) }, items: items, support: support, temperature: 0.2) }
        #expect(loss(users) < loss(before) - 0.1, "loss \(loss(before)) → \(loss(users))")
        let score = { (t: Tensor, i: Int32) in (0..<6).reduce(Float(0)) { $0 + t[0, $1] * items[Int(i), $1] } }
        // Not every support item need rise (three random directions may pull apart), their mean does.
        let mean = { (t: Tensor) in support.reduce(Float(0)) { $0 + score(t, $1) } / Float(support.count) }
        #expect(mean(users) > mean(before) + 0.1, "mean support score \(mean(before)) → \(mean(users))")
    }

    @Test func `an empty history, and zero steps, leave u unchanged`() throws {
        let items = Self.unitRows([9, 3], seed: 5)
        var users = Self.unitRows([2, 3], seed: 6)
        let before = users
        var ws = UserAdaptation.Workspace()
        try UserAdaptation(steps: 3, rate: 0.1, supportSize: 2).adapt(&users, histories: [[], [1, 2]], items: items, temperature: 0.1, workspace: &ws)
        #expect((0..<3).allSatisfy { abs(users[0, $0] - before[0, $0]) < 1e-6 })
        #expect((0..<3).contains { abs(users[1, $0] - before[1, $0]) > 1e-3 })
        var unchanged = before
        try UserAdaptation(steps: 0, rate: 0.1, supportSize: 2).adapt(&unchanged, histories: [[3], [1, 2]], items: items, temperature: 0.1, workspace: &ws)
        #expect(unchanged == before)
    }

    @Test func `out-of-range settings are refused naming the setting`() {
        for (steps, rate, support, word) in [(-1, Float(0.1), 1, "steps"), (101, 0.1, 1, "steps"), (1, 0, 1, "rate"), (1, .nan, 1, "rate"),
                                             (0, 0, 1, "rate"), (1, 11, 1, "rate"), (1, 0.1, 0, "support"), (1, 0.1, 1001, "support")] {
            #expect(throws: RetrievalError.self) { try UserAdaptation(steps: steps, rate: rate, supportSize: support) }
            do { _ = try UserAdaptation(steps: steps, rate: rate, supportSize: support) } catch {
                #expect("\(error)".contains(word), "\(error)")
            }
        }
        #expect((try? UserAdaptation(steps: 0, rate: 0.03, supportSize: 1)) != nil, "no steps: off")
    }

    @Test(arguments: [HistoryEncoderKind.bagOfWords, .gru(hidden: 3), .lstm(hidden: 3), .cnn(filters: 3, width: 2)])
    func `serving-time recall adapts as evaluation does`(encoder: HistoryEncoderKind) throws {
        let m = try CatalogueRecallTests.model(encoder: encoder)
        let adaptation = try UserAdaptation(steps: 3, rate: 0.05, supportSize: 2)
        var recall = CatalogueRecall(model: m, precision: .float32, adaptation: adaptation)
        var plain = CatalogueRecall(model: m, precision: .float32)
        var out: [(row: Int32, score: Float)] = [], plainOut: [(row: Int32, score: Float)] = []
        for history: [Int32] in [[3, 9, 27, 5, 11], [], [1]] {
            recall.recall(history: history, excluding: history, n: 10, into: &out)
            plain.recall(history: history, excluding: history, n: 10, into: &plainOut)
            #expect(!recall.lastAdaptationFellBack)
            // Evaluation's path: the same model and history through TwoTowerRanking (batched GEMMs, so
            // equal up to rounding: compare the adapted u, and the ids where scores are not near-tied).
            let evaluated = TwoTowerRanking.rank([NextItemSplit.Case(user: 0, history: history[...], targets: [0])], parameters: m.parameters,
                                                 itemEmbeddings: m.index.embeddings, maxHistory: m.manifest.maxHistory, k: 10,
                                                 adaptation: (adaptation, m.manifest.temperature))[0]
            #expect(evaluated.prefix(3) == out.prefix(3).map(\.row)[...], "history \(history): \(evaluated) vs \(out.map(\.row))")
            var expected = UserTower.embed(m.parameters, histories: [history[...]], maxLength: m.manifest.maxHistory)
            var ws = UserAdaptation.Workspace()
            adaptation.adapt(&expected, histories: [history.suffix(m.manifest.maxHistory)], items: m.index.embeddings,
                             temperature: m.manifest.temperature, workspace: &ws)
            for j in 0..<m.index.dimension { #expect(abs(recall.lastQuery[0, j] - expected[0, j]) < 1e-5) }
            if history.isEmpty { #expect(out.map(\.row) == plainOut.map(\.row), "nothing to adapt on") }
        }
    }
}
