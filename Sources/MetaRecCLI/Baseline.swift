import ArgumentParser
import Foundation
import Logging
import MetaTrain

/// `metarec baseline`: item-mean, popularity or matrix factorisation (with a per-user ridge
/// fold-in) scores for a user-cold held-out file, as a scored-rows CSV.
struct BaselineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Score a user-cold held-out file's query rows with a baseline (item-mean, popularity, mf).",
        discussion: """
            Fits on --train (user, item, rating columns), reads --data (a validation.csv / test.csv of \
            `metarec datasets movielens --protocol user-cold`: role = support | query) and writes \
            --out with the header user,task,label,score: one row per query row and label, the same \
            score for every label. mf folds each held-out user in on their support rows \
            (closed-form ridge). Several --l2 (mf) or --prior-count (item-mean) values are chosen \
            among on --validation by mean nDCG@10 of the rating.
            """)

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case itemMean = "item-mean"
        case popularity
        case mf
    }

    @Option(help: "Baseline: item-mean, popularity or mf.") var method: Method
    @Option(help: "Training CSV log (fit).") var train: String
    @Option(help: "Held-out CSV log with a role column (support | query) to score.") var data: String
    @Option(help: "Scored-rows CSV to write (user,task,label,score).") var out: String
    @Option(help: "Held-out CSV log on which to choose among several --l2 / --prior-count values.") var validation: String?
    @Option(help: "mf: latent factors f.") var factors = 32
    @Option(help: "mf: ridge λ of ALS and the fold-in; a comma-separated list is chosen among on --validation.") var l2 = "10"
    @Option(help: "mf: ALS epochs.") var epochs = 15
    @Option(help: "mf: seed of the item factors' initialisation.") var seed: UInt64 = 1
    @Option(help: "item-mean: prior count m of the shrinkage toward the global mean; a list is chosen among on --validation.")
    var priorCount = "5"
    @Option(help: "Use only each held-out user's last N support rows (default: all).") var supportLimit: Int?
    @Option(help: "Task-key (user) column.") var userColumn = "user_id"
    @Option(help: "Item column.") var itemColumn = "item_id"
    @Option(help: "Rating column (fit and fold-in target).") var ratingColumn = "rating"
    @Option(help: "Comma-separated label columns written as tasks.") var labels = "like,rating"
    @OptionGroup var logOptions: LogOptions

    static func numbers(_ text: String, flag: String) throws -> [Double] {
        try text.split(separator: ",").map {
            guard let v = Double($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--\(flag): '\($0)' is not a number") }
            return v
        }
    }

    func validate() throws {
        if let supportLimit, supportLimit < 1 { throw ValidationError("--support-limit must be >= 1") }
        if try Self.numbers(l2, flag: "l2").isEmpty { throw ValidationError("--l2: no value") }
        if try Self.numbers(priorCount, flag: "prior-count").isEmpty { throw ValidationError("--prior-count: no value") }
    }

    func run() async throws {
        let logger = try logOptions.bootstrap()
        try reportingErrors {
            var job = BaselineJob(method: BaselineJob.Method(rawValue: method.rawValue)!, trainingPath: train, dataPath: data, outputPath: out)
            job.validationPath = validation
            job.factors = factors
            job.l2Candidates = try Self.numbers(l2, flag: "l2")
            job.epochs = epochs
            job.seed = seed
            job.priorCounts = try Self.numbers(priorCount, flag: "prior-count")
            job.supportLimit = supportLimit
            job.userColumn = userColumn
            job.itemColumn = itemColumn
            job.ratingColumn = ratingColumn
            job.labels = labels.split(separator: ",").map { String($0) }
            let report = try job.run(log: { logger.info("\($0)") })
            var chosen = ""
            switch report.method {
            case .itemMean(let m): chosen = " (prior count \(m))"
            case .matrixFactorization(let s): chosen = " (f \(s.factors), λ \(s.l2), \(s.epochs) epochs)"
            case .popularity: break
            }
            print("\(report.method.name)\(chosen): \(report.users) users, \(report.rowsWritten) scored rows → \(out)")
        }
    }
}
