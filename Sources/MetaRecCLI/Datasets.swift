import ArgumentParser
import Foundation
import MetaTrain

/// `metarec datasets …`: write CSV logs (train / validation / test) and a ready model config.
struct Datasets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write train.csv, validation.csv, test.csv and config.yaml for a built-in or public dataset.",
        discussion: "Real datasets keep their terms of use: see Sources/MetaTrain/Datasets/README.md.",
        subcommands: [DatasetsSynthetic.self, DatasetsCensus.self, DatasetsMovieLens.self,
                      DatasetsSyntheticScenes.self, DatasetsMovieLensScenes.self, DatasetsSyntheticCatalogue.self])

    /// Prints one summary line per written file and the elapsed time.
    static func report(_ summary: DatasetSummary, since start: ContinuousClock.Instant) {
        for file in summary.files { print(summary.line(for: file)) }
        let config = summary.config
        print("config.yaml    task_key \(config.taskKey), \(config.features.count) features, "
              + "labels \(config.labels.map(\.name).joined(separator: ", "))")
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        print("wrote \(summary.directory) in \(String(format: "%.2f", seconds)) s")
    }

    /// Progress lines on standard error (the summary goes to standard output), at most one a second.
    static func progress() -> (DatasetProgress) -> Void {
        let clock = ContinuousClock()
        var last = clock.now
        return { p in
            let now = clock.now
            guard now - last >= .seconds(1) else { return }
            last = now
            if let total = p.total, total > 0 {
                printError("\(p.stage): \(p.done)/\(total) (\(100 * p.done / total)%)")
            } else {
                printError("\(p.stage): \(p.done)")
            }
        }
    }
}

/// Label kind of the synthetic generator, as a command-line value.
enum SyntheticKindArgument: String, ExpressibleByArgument, CaseIterable {
    case binary, regression
}

/// `metarec datasets synthetic`: the MMoE paper's two-task generator, extended with users.
struct DatasetsSynthetic: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "Synthetic two-task data with controlled task correlation (Ma et al., KDD 2018, §4.1) and per-user weights.")

    @Option(help: "User population size.") var users = 5000
    @Option(help: "Rows (events) to generate.") var rows = 300_000
    @Option(parsing: .unconditional, help: "Cosine similarity p of the two task weight vectors, in [-1, 1].")
    var correlation = 0.5
    @Option(help: "Numeric input columns d (x0 … x{d-1}).") var features = 16
    @Option(help: "Label kind: binary (1[y > median]) or regression (y).") var kind: SyntheticKindArgument = .binary
    @Option(help: "Per-user weight perturbation σ (relative to the shared weights).") var userPerturbation = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output directory (created if missing).") var out: String

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            let config = try SyntheticConfig(
                users: users, rows: rows, correlation: correlation, features: features,
                labelKind: kind == .binary ? .binary : .regression, userPerturbation: userPerturbation, seed: seed)
            let summary = try SyntheticDataset.write(config, to: out, progress: Datasets.progress())
            Datasets.report(summary, since: start)
        }
    }
}

extension CensusCrowd: ExpressibleByArgument {}

/// `metarec datasets census`: UCI Census-Income (KDD), the MMoE paper's income / never-married tasks.
struct DatasetsCensus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "census",
        abstract: "UCI Census-Income (KDD): tasks income > 50K and marital status = Never married, 50/25/25 hash split.")

    @Option(help: "census-income.test.gz (or .data.gz; gzip or plain).") var raw: String
    @Option(help: "Crowd (task key) definition: age-sex-education or state-age.") var crowd: CensusCrowd = .ageSexEducation
    @Option(help: "Seed of the hash split.") var seed: UInt64 = 1
    @Option(help: "Convert only the first N records.") var limit: Int?
    @Option(help: "A categorical column named as the config's scene (e.g. class_of_worker).") var scene: String?
    @Option(help: "Output directory (created if missing).") var out: String

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1") }
            let options = CensusOptions(crowd: crowd, seed: seed, limit: limit, scene: scene)
            let summary = try CensusDataset.write(raw: raw, to: out, options: options, progress: Datasets.progress())
            Datasets.report(summary, since: start)
        }
    }
}

/// `metarec datasets movielens`: ml-latest(-small), ml-100k or ml-1m, split per user by time
/// (`--protocol warm`, the default) or into user-cold folds (`--protocol user-cold`).
struct DatasetsMovieLens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "movielens",
        abstract: "MovieLens (ml-latest-small, ml-100k, ml-1m): tasks like (rating ≥ 4) and rating, chronological split per user.",
        discussion: """
            --protocol user-cold writes OUT/fold-i/{train,validation,test,config.yaml} for i < --folds \
            (users hashed into folds; fold i held out as test, fold i+1 mod K as validation; a held-out \
            user's last --query rows are marked role=query, the earlier ones role=support) and OUT/folds.csv.
            """)

    enum SplitProtocol: String, ExpressibleByArgument, CaseIterable {
        case warm
        case userCold = "user-cold"
    }

    @Option(help: "Directory of the unpacked MovieLens release.") var raw: String
    @Option(help: "Output directory (created if missing).") var out: String
    @Option(help: "warm: chronological split per user; user-cold: users held out in folds.") var `protocol`: SplitProtocol = .warm
    @Option(help: "user-cold: number of folds K (default 5).") var folds: Int?
    @Option(help: "user-cold: query rows Q, a held-out user's most recent (default 10).") var query: Int?
    @Option(help: "user-cold: seed of the user → fold hash (default 1).") var foldSeed: UInt64?

    func validate() throws {
        if `protocol` == .warm, folds != nil || query != nil || foldSeed != nil {
            throw ValidationError("--folds, --query and --fold-seed need --protocol user-cold")
        }
    }

    func run() async throws {
        try reportingErrors {
            let start = ContinuousClock.now
            switch `protocol` {
            case .warm:
                let summary = try MovieLensDataset.write(raw: raw, to: out, progress: Datasets.progress())
                Datasets.report(summary, since: start)
            case .userCold:
                let folds = try UserColdFolds(folds: folds ?? 5, queryRows: query ?? 10, seed: foldSeed ?? 1)
                let summary = try MovieLensDataset.writeUserCold(raw: raw, to: out, folds: folds, progress: Datasets.progress())
                for (i, fold) in summary.foldSummaries.enumerated() {
                    print("fold-\(i) (\(summary.usersPerFold[i]) users)")
                    for file in fold.files { print("  " + fold.line(for: file)) }
                }
                print("folds.csv      \(summary.usersPerFold.reduce(0, +)) users in \(folds.folds) folds; "
                      + "\(summary.skippedUsers) with ≤ \(folds.queryRows) rows never held out")
                let elapsed = (ContinuousClock.now - start).components
                print("wrote \(out) in \(String(format: "%.2f", Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)) s")
            }
        }
    }
}
