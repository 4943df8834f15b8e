import ArgumentParser
import Foundation
import MetaTrain

/// Tables and JSON of per-user reports, shared by `metarec eval` and `metarec compare`.
enum PerUserOutput {
    /// Parses `--k 5,10`.
    static func cutOffs(_ text: String) throws -> [Int] {
        let ks = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ks.isEmpty, ks.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--k must be a comma-separated list of integers >= 1, e.g. 5,10 (got \"\(text)\")")
        }
        return ks.map { $0! }
    }

    /// One line per group, task and metric. With one variant:
    /// `group task metric <a> users skipped`; with two:
    /// `group task metric <a> <b> diff ci_low ci_high users skipped_<a> skipped_<b>`, `users` the users
    /// paired in the difference, `skipped_*` the users whose metric is undefined in that variant.
    static func table(_ groups: [PerUserGroup], a nameA: String, b nameB: String) -> String {
        func f(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%.4f", $0) : "nan" } ?? "-" }
        func signed(_ x: Double?) -> String { x.map { $0.isFinite ? String(format: "%+.4f", $0) : "nan" } ?? "-" }
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count + 1), withPad: " ", startingAt: 0) }
        let paired = groups.contains { $0.reports.contains { $0.b != nil } }
        var lines = [pad("group", 8) + pad("task", 12) + pad("metric", 11) + pad(nameA, 10)
                     + (paired ? pad(nameB, 10) + pad("diff", 9) + pad("ci_low", 9) + pad("ci_high", 9) + pad("users", 7) + pad("skipped_" + nameA, 10) + "skipped_" + nameB
                               : pad("users", 7) + "skipped")]
        for group in groups {
            for report in group.reports {
                for (m, metric) in report.metrics.enumerated() {
                    let a = report.a[m]
                    var line = pad(group.name, 8) + pad(report.task, 12) + pad(metric.description, 11) + pad(f(a.users > 0 ? a.mean : nil), 10)
                    if let bs = report.b {
                        let b = bs[m], d = report.differences[m]
                        line += pad(f(b.users > 0 ? b.mean : nil), 10) + pad(signed(d?.mean), 9) + pad(signed(d?.low), 9) + pad(signed(d?.high), 9)
                            + pad(String(d?.users ?? 0), 7) + pad(String(a.skipped), 10) + String(b.skipped)
                    } else {
                        line += pad(String(a.users), 7) + String(a.skipped)
                    }
                    lines.append(line)
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A caption: what a user is and how the means and intervals are formed.
    static func caption(userColumn: String?, resamples: Int?, seed: UInt64) -> String {
        var text = "per-user metrics (user = " + (userColumn.map { "task key \"\($0)\"" } ?? "the files' user column")
            + "; GAUC weighted by a user's rows, nDCG/recall unweighted means over users"
        if let resamples { text += "; diff = paired bootstrap 95% CI over users, \(resamples) resamples, seed \(seed)" }
        return text + ")"
    }

    /// JSON objects, one per group, task and metric:
    /// `{group, task, scale, metric, <a>, <a>_users, <a>_skipped[, <b>, <b>_users, <b>_skipped, diff, ci_low, ci_high, users,
    /// only_<a>_users, only_<b>_users]}`; an undefined value is `null`.
    static func json(_ groups: [PerUserGroup], a nameA: String, b nameB: String) -> [[String: Any]] {
        func value(_ x: Double?) -> Any { x.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
        var out: [[String: Any]] = []
        for group in groups {
            for report in group.reports {
                for (m, metric) in report.metrics.enumerated() {
                    let a = report.a[m]
                    var o: [String: Any] = [
                        "group": group.name, "task": report.task, "scale": report.scale == .binary ? "binary" : "graded",
                        "metric": metric.description,
                        nameA: value(a.mean), nameA + "_users": a.users, nameA + "_skipped": a.skipped,
                    ]
                    if let bs = report.b {
                        let b = bs[m], d = report.differences[m]
                        o[nameB] = value(b.mean)
                        o[nameB + "_users"] = b.users
                        o[nameB + "_skipped"] = b.skipped
                        o["diff"] = value(d?.mean)
                        o["ci_low"] = value(d?.low)
                        o["ci_high"] = value(d?.high)
                        o["users"] = d?.users ?? 0
                        o["only_\(nameA)_users"] = report.usersOnlyInA
                        o["only_\(nameB)_users"] = report.usersOnlyInB
                    }
                    out.append(o)
                }
            }
        }
        return out
    }
}
