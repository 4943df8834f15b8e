import Foundation
import MetaTrain

/// The per-scene table and JSON of `metarec eval` (``SceneMetrics``).
enum SceneOutput {
    /// A caption and one line per scene (most rows first), then the pools, and task:
    /// `scene small rows share task auc logloss gauc gauc_users rmse mae`.
    static func table(_ metrics: SceneMetrics, tasks: [String]) -> String {
        func f(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.4f", $0) : "nan" } ?? "-" }
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count + 1), withPad: " ", startingAt: 0) }
        let width = (metrics.scenes + metrics.pools).reduce(14) { max($0, $1.name.count + 2) }
        var lines = ["per-scene metrics (scene = \"\(metrics.column)\"; small = under "
                     + "\(Int(SceneMetrics.smallShare * 100))% of rows; GAUC over users inside the scene, weighted by their rows)",
                     pad("scene", width) + pad("small", 6) + pad("rows", 8) + pad("share", 8) + pad("task", 12) + pad("auc", 8)
                     + pad("logloss", 9) + pad("gauc", 8) + pad("users", 7) + pad("rmse", 8) + "mae"]
        for group in metrics.scenes + metrics.pools {
            for (k, task) in tasks.enumerated() {
                let m = group.tasks[k], g = group.gauc[k]
                lines.append(pad(group.name, width) + pad(group.isSmall ? "yes" : "no", 6) + pad(String(group.rows), 8)
                             + pad(String(format: "%.3f", group.share), 8) + pad(task, 12) + pad(f(m.auc), 8) + pad(f(m.logLoss), 9)
                             + pad(f(g.flatMap { $0.users > 0 ? $0.mean : nil }), 8) + pad(g.map { String($0.users) } ?? "-", 7)
                             + pad(f(m.rmse), 8) + f(m.mae))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `{"column", "small_share", "scenes": [group…], "pools": [group…]}`, a group being
    /// `{name, small, rows, share, scenes, tasks: [{task, count, auc?, logloss?, rmse?, mae?, gauc?, gauc_users?}]}`;
    /// an undefined value is `null`.
    static func json(_ metrics: SceneMetrics, tasks: [String]) -> [String: Any] {
        func value(_ x: Double?) -> Any { x.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        func group(_ g: SceneGroupMetrics) -> [String: Any] {
            let perTask: [[String: Any]] = tasks.enumerated().map { k, task in
                var o: [String: Any] = ["task": task, "count": g.tasks[k].count]
                for (name, v) in g.tasks[k].values { o[name] = value(v) }
                if let gauc = g.gauc[k] {
                    o["gauc"] = value(gauc.users > 0 ? gauc.mean : nil)
                    o["gauc_users"] = gauc.users
                }
                return o
            }
            return ["name": g.name, "small": g.isSmall, "rows": g.rows, "share": value(g.share), "scenes": g.scenes, "tasks": perTask]
        }
        return ["column": metrics.column, "small_share": SceneMetrics.smallShare,
                "scenes": metrics.scenes.map(group), "pools": metrics.pools.map(group)]
    }
}
