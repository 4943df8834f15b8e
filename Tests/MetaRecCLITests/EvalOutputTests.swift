import Foundation
@testable import MetaRecCLI
import MetaTrain
import Models
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
}
