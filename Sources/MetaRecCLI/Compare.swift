import ArgumentParser
import Foundation
import MetaTrain

/// `metarec compare`: per-user metrics of two variants' scored-rows files and the paired
/// bootstrap CI of B − A.
struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two variants' scored rows per user (GAUC, nDCG@K, recall@K) with a paired bootstrap CI of B - A.",
        discussion: """
            Each file is a scored-rows CSV with the columns user,task,label,score (one line per \\
            scored row and task), as written by `metarec eval --scored-out`. Several files per \\
            side (--a f1.csv --a f2.csv, e.g. one per fold) are concatenated; the files of one \\
            side must hold disjoint users. A task whose labels are all 0/1 is binary (GAUC, \\
            nDCG@K, recall@K), any other graded (nDCG@K with gain 2^label - 1). Differences are \\
            paired over the users whose metric is defined in both A and B; users with rows in \\
            only one side are counted (only_a/only_b, a warning on stderr) and left out of the \\
            differences.
            """)

    @Option(help: "Scored-rows file(s) of variant A (repeat for folds).") var a: [String]
    @Option(help: "Scored-rows file(s) of variant B (repeat for folds).") var b: [String]
    @Option(help: "Cut-offs K of nDCG@K and recall@K, comma-separated.", transform: PerUserOutput.cutOffs)
    var k: [Int] = [5, 10]
    @Option(help: "Paired bootstrap resamples.") var resamples: Int = PairedBootstrap.defaultResamples
    @Option(help: "Paired bootstrap seed.") var seed: UInt64 = 1
    @Option(help: "Output format.") var format: OutputFormat = .table

    func validate() throws {
        guard !a.isEmpty, !b.isEmpty else { throw ValidationError("give at least one --a and one --b file") }
        guard resamples >= 1 else { throw ValidationError("--resamples must be >= 1") }
    }

    func run() async throws {
        try reportingErrors {
            let rowsA = try ScoredRowsFile.read(paths: a), rowsB = try ScoredRowsFile.read(paths: b)
            let reports = PerUserReport.compare(a: rowsA, b: rowsB, ks: k, resamples: resamples, seed: seed)
            for r in reports where r.usersOnlyInA > 0 || r.usersOnlyInB > 0 {
                printError("compare: task \(r.task): \(r.usersOnlyInA) users only in A, \(r.usersOnlyInB) only in B; they are left out of the differences")
            }
            print(try render(reports, orders: OrderChange.compare(a: rowsA, b: rowsB, k: k.min() ?? 5)))
        }
    }

    /// The table, or the JSON document
    /// `{"a": [files], "b": [files], "k": [..], "resamples": n, "seed": s, "results": [``PerUserOutput/json(_:a:b:)`` objects]}`.
    func render(_ reports: [PerUserReport], orders: [OrderChange]) throws -> String {
        let groups = [PerUserGroup(name: "all", reports: reports)]
        switch format {
        case .table:
            var out = PerUserOutput.caption(userColumn: nil, resamples: resamples, seed: seed) + "\n"
                + PerUserOutput.table(groups, a: "a", b: "b")
            out += "\norder of b against a (Kendall τ-b per user, mean; users whose top-K set changed):\n"
            for o in orders {
                out += "  \(o.task): τ \(String(format: "%.3f", o.meanKendallTau)) over \(o.users) users; "
                    + "top-\(o.k) changed for \(o.topKChanged) (\(String(format: "%.1f", 100 * Double(o.topKChanged) / Double(max(o.users, 1))))%)"
                    + (o.unaligned > 0 ? "; \(o.unaligned) users' rows do not line up" : "") + "\n"
            }
            return out
        case .json:
            let order: [[String: Any]] = orders.map {
                ["task": $0.task, "kendall_tau": $0.meanKendallTau.isNaN ? NSNull() : $0.meanKendallTau, "users": $0.users,
                 "k": $0.k, "top_k_changed": $0.topKChanged, "unaligned_users": $0.unaligned]
            }
            let document: [String: Any] = ["a": a, "b": b, "k": k, "resamples": resamples, "seed": seed,
                                           "results": PerUserOutput.json(groups, a: "a", b: "b"), "order": order]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])
            return String(decoding: data, as: UTF8.self)
        }
    }
}
