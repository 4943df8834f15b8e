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
            print(try render(reports))
        }
    }

    /// The table, or the JSON document
    /// `{"a": [files], "b": [files], "k": [..], "resamples": n, "seed": s, "results": [``PerUserOutput/json(_:a:b:)`` objects]}`.
    func render(_ reports: [PerUserReport]) throws -> String {
        let groups = [PerUserGroup(name: "all", reports: reports)]
        switch format {
        case .table:
            return PerUserOutput.caption(userColumn: nil, resamples: resamples, seed: seed) + "\n"
                + PerUserOutput.table(groups, a: "a", b: "b")
        case .json:
            let document: [String: Any] = ["a": a, "b": b, "k": k, "resamples": resamples, "seed": seed,
                                           "results": PerUserOutput.json(groups, a: "a", b: "b")]
            let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])
            return String(decoding: data, as: UTF8.self)
        }
    }
}
