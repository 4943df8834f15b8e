import Foundation
import MetaTrain
import ModelMath
import TensorCore
import Testing

/// ``SceneScoreCollector`` against naive references: AUC by counting every (positive, negative)
/// pair, GAUC by the per-user loop written out, logloss and RMSE from their definitions.
@Suite struct SceneMetricsTests {
    struct Row { var scene: UInt64; var user: UInt64; var task: Int; var label: Float; var score: Float }

    /// Rows of `scenes` scenes with skewed sizes, 5 users per scene, two tasks (binary, regression).
    static func rows(seed: UInt64, sizes: [Int]) -> [Row] {
        var rng = SeededRandom(seed: seed)
        var out: [Row] = []
        for (s, size) in sizes.enumerated() {
            for _ in 0..<size {
                let user = UInt64(100 * s) + rng.next() % 5
                let score = rng.nextUniform()
                // Labels correlated with the score so AUCs are away from 0.5; ties on purpose.
                let label: Float = rng.nextUniform() < 0.3 + 0.4 * score ? 1 : 0
                out.append(Row(scene: UInt64(s + 1), user: user, task: 0, label: label, score: (score * 20).rounded() / 20))
                out.append(Row(scene: UInt64(s + 1), user: user, task: 1, label: 3 * rng.nextUniform(), score: 3 * score))
            }
        }
        return out
    }

    static func naiveAUC(_ rows: [Row]) -> Double? {
        let pos = rows.filter { $0.label >= 0.5 }, neg = rows.filter { $0.label < 0.5 }
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        var wins = 0.0
        for p in pos { for n in neg { wins += p.score > n.score ? 1 : p.score == n.score ? 0.5 : 0 } }
        return wins / Double(pos.count * neg.count)
    }

    static func naiveGAUC(_ rows: [Row]) -> Double? {
        var total = 0.0, weight = 0.0
        for user in Set(rows.map(\.user)) {
            let mine = rows.filter { $0.user == user }
            guard let auc = naiveAUC(mine) else { continue }
            total += Double(mine.count) * auc
            weight += Double(mine.count)
        }
        return weight > 0 ? total / weight : nil
    }

    static func collect(_ rows: [Row]) -> SceneMetrics {
        var collector = SceneScoreCollector()
        for row in rows {
            if row.task == 0 { collector.countRow(scene: row.scene) }
            collector.add(scene: row.scene, user: row.user, task: row.task, label: row.label, score: row.score)
        }
        let names = TaskKeyNames(column: "scene", names: Dictionary(uniqueKeysWithValues: (1...9).map { (UInt64($0), "scene\($0)") }))
        return collector.metrics(names: names, kinds: [.binary, .regression])
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func `per-scene AUC, logloss, RMSE and GAUC equal the naive definitions`(seed: UInt64) throws {
        let sizes = [400, 250, 60, 12, 8]
        let rows = Self.rows(seed: seed, sizes: sizes)
        let metrics = Self.collect(rows)
        #expect(metrics.scenes.map(\.name) == ["scene1", "scene2", "scene3", "scene4", "scene5"])
        for group in metrics.scenes {
            let s = UInt64(group.name.dropFirst(5))!
            let binary = rows.filter { $0.scene == s && $0.task == 0 }, graded = rows.filter { $0.scene == s && $0.task == 1 }
            #expect(group.rows == binary.count && group.tasks[0].count == binary.count)
            let auc = try #require(Self.naiveAUC(binary))
            #expect(abs(group.tasks[0].auc! - auc) < 1e-12)
            let logLoss = binary.map { r -> Double in
                let p = min(max(Double(r.score), 1e-7), 1 - 1e-7)
                return -(Double(r.label) * log(p) + (1 - Double(r.label)) * log(1 - p))
            }.reduce(0, +) / Double(binary.count)
            #expect(abs(group.tasks[0].logLoss! - logLoss) < 1e-9)
            let mse = graded.map { Double($0.score - $0.label) * Double($0.score - $0.label) }.reduce(0, +) / Double(graded.count)
            #expect(abs(group.tasks[1].rmse! - mse.squareRoot()) < 1e-9)
            let gauc = try #require(group.gauc[0])
            if let naive = Self.naiveGAUC(binary) { #expect(abs(gauc.mean - naive) < 1e-12) } else { #expect(gauc.users == 0) }
            #expect(group.gauc[1] == nil, "no GAUC for a regression task")
        }
    }

    @Test func `scenes under 5 % of rows are small, listed by traffic and pooled`() throws {
        let sizes = [400, 250, 60, 12, 8]   // shares 0.548, 0.342, 0.082, 0.016, 0.011
        let rows = Self.rows(seed: 7, sizes: sizes)
        let metrics = Self.collect(rows)
        #expect(metrics.scenes.map(\.isSmall) == [false, false, false, true, true])
        #expect(abs(metrics.scenes.map(\.share).reduce(0, +) - 1) < 1e-12)
        #expect(metrics.pools.map(\.name) == ["small scenes", "large scenes"])
        let small = metrics.pools[0], large = metrics.pools[1]
        #expect(small.rows == 20 && small.scenes == 2 && large.rows == 710 && large.scenes == 3)
        let smallRows = rows.filter { $0.scene >= 4 && $0.task == 0 }
        #expect(abs(small.tasks[0].auc! - Self.naiveAUC(smallRows)!) < 1e-12)
        let smallGAUC = try #require(small.gauc[0])
        if let naive = Self.naiveGAUC(smallRows) { #expect(abs(smallGAUC.mean - naive) < 1e-12) }
    }

    @Test func `equal traffic orders scenes by name, and without a small scene there is one pool`() {
        var collector = SceneScoreCollector()
        for (scene, label) in [(2, 0), (2, 1), (1, 0), (1, 1)] as [(UInt64, Float)] {
            collector.countRow(scene: scene)
            collector.add(scene: scene, user: 1, task: 0, label: label, score: label)
        }
        collector.add(scene: 1, user: 1, task: 0, label: .nan, score: 0.5)
        let names = TaskKeyNames(column: "scene", names: [1: "b", 2: "a"])
        let metrics = collector.metrics(names: names, kinds: [.binary])
        #expect(metrics.scenes.map(\.name) == ["a", "b"])
        #expect(metrics.scenes.map { $0.tasks[0].count } == [2, 2], "a NaN label is not counted")
        #expect(metrics.pools.map(\.name) == ["large scenes"])
        #expect(metrics.scenes.allSatisfy { $0.tasks[0].auc == 1 && $0.gauc[0]?.mean == 1 })
    }
}
