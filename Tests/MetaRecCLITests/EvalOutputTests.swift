import Foundation
@testable import MetaRecCLI
import MetaTrain
import ModelDescription
import ModelMath
import Testing

/// `metarec eval --format json` must stay valid JSON when a metric is undefined.
@Suite struct EvalOutputTests {
    @Test func `an undefined AUC is written as null, not NaN`() throws {
        var oneClass = TaskMetricsAccumulator(kind: .binary)
        for p: Float in [0.2, 0.7, 0.4] { oneClass.add(prediction: p, label: 1) }
        var mixed = TaskMetricsAccumulator(kind: .binary)
        for (p, y): (Float, Float) in [(0.2, 0), (0.7, 1), (0.4, 0)] { mixed.add(prediction: p, label: y) }
        let undefined = oneClass.result()
        #expect(undefined.auc.map { $0.isNaN } ?? true, "one class: AUC is undefined")
        let text = try Eval.json(rows: [
            (group: "1-5", tasks: 2, variant: "finetuned", task: "income", metrics: undefined),
            (group: "all", tasks: nil, variant: "base", task: "income", metrics: mixed.result()),
        ])
        let decoded = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let results = try #require(decoded["results"] as? [[String: Any]])
        #expect(results.count == 2)
        #expect(results[0]["auc"] is NSNull)
        #expect((results[0]["logloss"] as? Double)?.isFinite == true)
        #expect(results[1]["auc"] as? Double == 1)
        #expect(results[0]["tasks"] as? Int == 2 && results[1]["tasks"] == nil)
    }

    @Test func `per-user metrics go to "per_user"; an undefined mean is null and the global rows are unchanged`() throws {
        // One user with one class: GAUC is undefined for everyone; nDCG and recall are defined.
        let users = ["u1": UserRows(labels: [1, 1], scores: [0.2, 0.9])]
        let report = PerUserReport(task: "like", scale: .binary, a: users, b: users, ks: [5], resamples: 50)
        let perUser = PerUserEvaluation(tasks: ["like"], taskKey: "user", groups: [], perUser: [PerUserGroup(name: "all", reports: [report])],
                                        base: ScoredRows(), fineTuned: ScoredRows())
        var mixed = TaskMetricsAccumulator(kind: .binary)
        for (p, y): (Float, Float) in [(0.2, 0), (0.7, 1)] { mixed.add(prediction: p, label: y) }
        let text = try Eval.json(rows: [(group: "all", tasks: 1, variant: "base", task: "like", metrics: mixed.result())], perUser: perUser)
        let decoded = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((decoded["results"] as? [[String: Any]])?.first?["auc"] as? Double == 1)
        #expect(decoded["task_key"] as? String == "user")
        let rows = try #require(decoded["per_user"] as? [[String: Any]])
        #expect(rows.map { $0["metric"] as? String } == ["gauc", "ndcg@5", "recall@5"])
        #expect(rows[0]["base"] is NSNull && rows[0]["diff"] is NSNull && rows[0]["base_skipped"] as? Int == 1)
        #expect(rows[1]["base"] as? Double == 1 && rows[1]["finetuned"] as? Double == 1 && rows[1]["diff"] as? Double == 0)
        #expect(rows[1]["users"] as? Int == 1 && rows[1]["ci_low"] as? Double == 0)
    }

    @Test func `compare reads fold files per side and reports B - A per task and metric`() throws {
        let dir = NSTemporaryDirectory() + "metarec-compare-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Fold 1 holds users u0…u9, fold 2 u10…u19; B ranks every user perfectly, A backwards.
        for (side, sign) in [("a", -1.0), ("b", 1.0)] {
            for fold in 0..<2 {
                var rows = ScoredRows()
                for u in (fold * 10)..<(fold * 10 + 10) {
                    for i in 0..<4 { rows.rows.append(.init(user: "u\(u)", task: "like", label: Double(i % 2), score: sign * Double(i % 2) + Double(i) / 100)) }
                }
                try ScoredRowsFile.write(rows, to: "\(dir)/\(side)\(fold).csv")
            }
        }
        let command = try Compare.parse(["--a", dir + "/a0.csv", "--a", dir + "/a1.csv", "--b", dir + "/b0.csv", "--b", dir + "/b1.csv",
                                         "--k", "1,2", "--resamples", "200", "--format", "json"])
        let reports = PerUserReport.compare(a: try ScoredRowsFile.read(paths: command.a), b: try ScoredRowsFile.read(paths: command.b),
                                            ks: command.k, resamples: command.resamples, seed: command.seed)
        let orders = OrderChange.compare(a: try ScoredRowsFile.read(paths: command.a), b: try ScoredRowsFile.read(paths: command.b), k: 1)
        let decoded = try #require(JSONSerialization.jsonObject(with: Data(try command.render(reports, orders: orders).utf8)) as? [String: Any])
        #expect((decoded["order"] as? [[String: Any]])?.count == orders.count)
        let rows = try #require(decoded["results"] as? [[String: Any]])
        #expect(rows.map { $0["metric"] as? String } == ["gauc", "ndcg@1", "ndcg@2", "recall@1", "recall@2"])
        for row in rows {
            #expect(row["users"] as? Int == 20 && row["b"] as? Double == 1 && (row["ci_low"] as? Double ?? 0) > 0, "\(row)")
        }
        #expect(rows[0]["a"] as? Double == 0 && rows[0]["diff"] as? Double == 1)
        let table = try Compare.parse(["--a", dir + "/a0.csv", "--b", dir + "/b0.csv"]).render(reports, orders: orders)
        #expect(table.contains("gauc") && table.split(separator: "\n").count == 2 + rows.count + 1 + orders.count)
        #expect(throws: (any Error).self) { try Compare.parse(["--a", "x.csv", "--b", "y.csv", "--k", "0"]) }
    }
}
