import Foundation
@testable import MetaRecCLI
import MetaTrain
import ModelMath
import Testing

/// The per-scene block of `metarec eval`: JSON under "scenes" (undefined values null) and the table.
@Suite struct SceneOutputTests {
    static func metrics() -> SceneMetrics {
        var collector = SceneScoreCollector()
        // Scene 1: 20 rows, both classes; scene 2: 1 row, one class (AUC undefined, small).
        for i in 0..<20 {
            collector.countRow(scene: 1)
            collector.add(scene: 1, user: UInt64(i % 2), task: 0, label: i >= 10 ? 1 : 0, score: Float(i) / 20)
        }
        collector.countRow(scene: 2)
        collector.add(scene: 2, user: 9, task: 0, label: 1, score: 0.5)
        return collector.metrics(names: TaskKeyNames(column: "page", names: [1: "home", 2: "search"]), kinds: [.binary])
    }

    @Test func `scenes go to "scenes" with small flags and pools; an undefined AUC is null`() throws {
        let perUser = PerUserEvaluation(tasks: ["click"], taskKey: "user", groups: [], perUser: [], base: ScoredRows(), fineTuned: nil)
        var withScenes = perUser
        withScenes.scenes = Self.metrics()
        let text = try Eval.json(rows: [], perUser: withScenes)
        let decoded = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let scenes = try #require(decoded["scenes"] as? [String: Any])
        #expect(scenes["column"] as? String == "page" && scenes["small_share"] as? Double == 0.05)
        let list = try #require(scenes["scenes"] as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["home", "search"])
        #expect(list.map { $0["small"] as? Bool } == [false, true])
        let search = try #require((list[1]["tasks"] as? [[String: Any]])?.first)
        #expect(search["auc"] is NSNull && search["gauc"] is NSNull && search["gauc_users"] as? Int == 0)
        let home = try #require((list[0]["tasks"] as? [[String: Any]])?.first)
        #expect(home["auc"] as? Double == 1 && home["count"] as? Int == 20)
        #expect((scenes["pools"] as? [[String: Any]])?.map { $0["name"] as? String } == ["small scenes", "large scenes"])
        let plain = try #require(JSONSerialization.jsonObject(with: Data(try Eval.json(rows: [], perUser: perUser).utf8)) as? [String: Any])
        #expect(plain["scenes"] == nil, "no scene column, no scenes block")
    }

    @Test func `the table lists every scene and pool once per task`() {
        let lines = SceneOutput.table(Self.metrics(), tasks: ["click"]).split(separator: "\n")
        #expect(lines.count == 2 + 4)
        #expect(lines[2].hasPrefix("home") && lines[3].hasPrefix("search") && lines[3].contains(" yes "))
        #expect(lines[4].hasPrefix("small scenes") && lines[5].hasPrefix("large scenes"))
    }
}
