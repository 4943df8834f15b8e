import Foundation
import MetaTrain
import ModelDescription
import Retrieval

/// Tables of ``RetrievalEval``: means by history bucket and paired bootstrap differences
/// (MetaTrain's ``PairedBootstrap``, as `metarec compare` uses it).
enum RetrievalReport {
    /// Per-user means of several models' metrics (seeds) on the same cases.
    static func average(_ runs: [[CaseMetrics]]) -> [CaseMetrics] {
        guard var out = runs.first else { return [] }
        for i in out.indices {
            for k in RetrievalMetrics.cutoffs {
                out[i].recall[k] = runs.map { $0[i].recall[k]! }.reduce(0, +) / Double(runs.count)
                out[i].ndcg[k] = runs.map { $0[i].ndcg[k]! }.reduce(0, +) / Double(runs.count)
            }
        }
        return out
    }

    /// The co-occurrence damping α ∈ {0, 0.5, 1} with the best validation recall@50.
    static func chooseDamping(_ validation: [NextItemSplit.Case], items: Int) -> Double {
        [0, 0.5, 1].max { a, b in
            recall50(validation, Baselines.coOccurrence(validation, items: items, k: 50, damping: a))
                < recall50(validation, Baselines.coOccurrence(validation, items: items, k: 50, damping: b))
        }!
    }

    static func recall50(_ cases: [NextItemSplit.Case], _ ranked: [[Int32]]) -> Double {
        zip(cases, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [50]).recall[50]! }.reduce(0, +) / Double(cases.count)
    }

    /// One value per case, keyed by its user when every user has one case (the chronological
    /// protocol), else by the case's position (TF Lite's: several cases a user). Methods are ranked
    /// on the same cases in the same order, so either key pairs them.
    static func values(_ metrics: [CaseMetrics], _ metric: PerUserMetric) -> PerUserValues {
        let byUser = Set(metrics.map(\.user)).count == metrics.count
        let pairs = metrics.enumerated().map { (i, m) -> (String, Double) in
            let key = byUser ? String(m.user) : String(i)
            return switch metric {
            case .recall(let k): (key, m.recall[k]!)
            case .ndcg(let k): (key, m.ndcg[k]!)
            case .gauc: preconditionFailure("retrieval reports no GAUC")
            }
        }
        return PerUserValues(metric: metric, values: Dictionary(uniqueKeysWithValues: pairs))
    }

    /// Means per method and bucket, then `first − other` with CIs for every other method.
    static func table(_ methods: [(String, [CaseMetrics])], resamples: Int) -> String {
        let metrics: [PerUserMetric] = RetrievalMetrics.cutoffs.map { .recall(k: $0) } + RetrievalMetrics.cutoffs.map { .ndcg(k: $0) }
        var out = "method".padding(toLength: 22, withPad: " ", startingAt: 0) + "bucket    users"
        for m in metrics { out += m.description.leftPadded(11) }
        out += "\n"
        for (name, rows) in methods {
            for bucket in ["all"] + CaseMetrics.buckets {
                let chosen = bucket == "all" ? rows : rows.filter { $0.bucket == bucket }
                guard !chosen.isEmpty else { continue }
                out += name.padding(toLength: 22, withPad: " ", startingAt: 0) + bucket.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(chosen.count).leftPadded(6)
                for m in metrics { out += String(format: "%.4f", values(chosen, m).mean).leftPadded(11) }
                out += "\n"
            }
        }
        out += "\ndifferences \(methods[0].0) - baseline (paired bootstrap over users, 95% CI):\n"
        for (name, rows) in methods.dropFirst() {
            for bucket in ["all"] + CaseMetrics.buckets {
                let keep = { (m: CaseMetrics) in bucket == "all" || m.bucket == bucket }
                let a = rows.filter(keep), b = methods[0].1.filter(keep)
                guard !a.isEmpty else { continue }
                out += "  vs \(name) [\(bucket), \(a.count) users]:"
                for m in metrics where bucket == "all" || m == .recall(k: 50) {
                    guard let d = PairedBootstrap.difference(a: values(a, m), b: values(b, m), resamples: resamples) else { continue }
                    out += String(format: " %@ %+.4f [%+.4f, %+.4f]", m.description, d.mean, d.low, d.high)
                }
                out += "\n"
            }
        }
        return out
    }

    /// `method,user,bucket,history,recall@10,…,ndcg@100` per user.
    static func writePerUser(_ methods: [(String, [CaseMetrics])], userIDs: [Int], to path: String) throws {
        var text = "method,user,bucket,history" + RetrievalMetrics.cutoffs.map { ",recall@\($0)" }.joined()
            + RetrievalMetrics.cutoffs.map { ",ndcg@\($0)" }.joined() + "\n"
        for (name, rows) in methods {
            for m in rows {
                text += "\(name),\(userIDs[m.user]),\(m.bucket),\(m.historyLength)"
                    + RetrievalMetrics.cutoffs.map { String(format: ",%.6f", m.recall[$0]!) }.joined()
                    + RetrievalMetrics.cutoffs.map { String(format: ",%.6f", m.ndcg[$0]!) }.joined() + "\n"
            }
        }
        try AtomicFile.write(text, to: path)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
