import ArgumentParser
import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import ParamServer
import Serving

/// `metarec eval-cold`: the MetaRec side of the user-cold protocol, through the serving path.
struct EvalCold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-cold",
        abstract: "Score a user-cold held-out file through the serving path: support rows as events, query rows as candidates.",
        discussion: """
            --data is a validation.csv / test.csv of `metarec datasets movielens --protocol user-cold` \
            (a role column: support | query). For each held-out user the support rows are sent to a \
            Predictor as feedback events (the POST /v1/events path), then the query rows are scored as \
            one request's candidates with fine-tuning off (DIR/base.csv) and on (DIR/finetuned.csv); \
            both files have the header user,task,label,score (one row per query row and label). \
            The model's serving settings apply (finetune_min_support_rows, support_store.capacity); \
            --steps, --learning-rate and --min-support override them.
            """)

    @Option(help: "Model directory.") var model: String
    @Option(help: "Held-out CSV log with a role column (support | query).") var data: String
    @Option(help: "Directory for base.csv and finetuned.csv (created if missing).") var scoredOut: String
    @Option(help: "Inner steps (default: the model's serving.inner_steps).") var steps: Int?
    @Option(help: "Inner learning rate (default: the model's serving.inner_learning_rate).") var learningRate: Double?
    @Option(help: "Fewest support rows a user needs to be fine-tuned (default: the model's serving.finetune_min_support_rows).")
    var minSupport: Int?
    @Option(help: SupportPrecisionOption.help) var supportPrecision: SupportPrecisionOption?
    @OptionGroup var policy: AdaptationOverrides

    func validate() throws {
        if let steps, steps < 0 || steps > ServingSettings.maxSteps { throw ValidationError("--steps must be in 0...\(ServingSettings.maxSteps)") }
        if let learningRate, !(learningRate >= 0 && learningRate.isFinite) { throw ValidationError("--learning-rate must be finite and >= 0") }
        if let minSupport, minSupport < 1 { throw ValidationError("--min-support must be >= 1") }
        try policy.validate()
    }

    func run() async throws {
        try reportingErrors {
            let clock = ManualClock(start: SystemClock().now())
            let loaded = try LoadedModel(path: model, clock: clock, supportPrecision: supportPrecision?.precision)
            var settings = ServingSettings(policy.applied(to: loaded.config))
            if let minSupport { settings.minimumSupportRows = minSupport }
            let evaluation = UserColdEvaluation(steps: steps, learningRate: learningRate)
            let start = ContinuousClock.now
            var last = start
            let report = try evaluation.run(
                model: ServingModel(loaded), settings: settings, dataPath: data, outputDirectory: scoredOut
            ) { done, total in
                let now = ContinuousClock.now
                if now - last >= .seconds(1) || done == total {
                    last = now
                    printError("users \(done)/\(total)")
                }
            }
            var line = "\(report.users) users, \(report.queryRows) query rows, \(report.supportRows) support events; "
            line += "fine-tuned \(report.finetunedUsers)"
            for (reason, n) in report.fallbacks.sorted(by: { $0.key < $1.key }) { line += ", \(reason) \(n)" }
            print(line)
            print("wrote \(scoredOut)/base.csv and \(scoredOut)/finetuned.csv (\(report.rowsWritten) rows each)")
        }
    }
}

/// The user-cold protocol's MetaRec variants: per held-out user, support rows → events, query
/// rows → one score request, without and with fine-tuning (``Predictor/scoreHeldOut(_:steps:learningRate:)``).
///
/// The clock of the model's stores is the caller's: `metarec eval-cold` freezes a
/// `ManualClock` at the start time, so no event expires during the run whatever the TTL.
/// Text cells become request values by column kind (``Predictor/requestValue(column:text:)``);
/// columns the model does not use (a title, `role`) are dropped; a query row's empty label cell
/// is not written for that label.
struct UserColdEvaluation {
    var steps: Int?
    var learningRate: Double?

    struct Report {
        var users = 0
        var queryRows = 0
        var supportRows = 0
        var finetunedUsers = 0
        var fallbacks: [String: Int] = [:]
        var rowsWritten = 0
    }

    /// Scores every held-out user of `dataPath` and writes `base.csv` and `finetuned.csv` into
    /// `outputDirectory`.
    /// - Throws: `DataError` (file:line:column) for malformed files, `CellError` naming the
    ///   file and line of a value the model rejects, `DatasetError` when the output cannot be written.
    func run(
        model: ServingModel, settings: ServingSettings, dataPath: String, outputDirectory: String,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Report {
        let table = try CSVTable(path: dataPath)
        let users = try table.heldOutUsers(userColumn: model.config.taskKey)
        var settings = settings
        // One request scores all of a user's query rows.
        settings.maxCandidates = max(settings.maxCandidates, users.map(\.query.count).max() ?? 0)
        let predictor = Predictor(model: model, settings: settings)
        let roles = table.columns.map { predictor.columnRole($0) }
        let labelNames = predictor.taskNames
        let labelColumns = try labelNames.map { name throws(DataError) in
            guard let c = table.column(named: name) else { throw .missingColumn(file: table.file, column: name, header: table.columns) }
            return c
        }

        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let baseOut = try ScoredRowsWriter(path: "\(outputDirectory)/base.csv")
        let tunedOut = try ScoredRowsWriter(path: "\(outputDirectory)/finetuned.csv")
        var report = Report()
        for (u, user) in users.enumerated() {
            let request = HeldOutRequest(
                user: user.user,
                support: try user.support.map { try values(row: $0, table: table, roles: roles, labels: true, predictor: predictor) },
                query: try user.query.map { try values(row: $0, table: table, roles: roles, labels: false, predictor: predictor) })
            let scores: HeldOutScores
            do {
                scores = try predictor.scoreHeldOut(request, steps: steps, learningRate: learningRate)
            } catch {
                let row = user.support.first ?? user.query[0]
                throw CellError(file: table.file, line: table.lines[row], reason: "user \(user.user): \(error)")
            }
            let k = labelNames.count
            for (j, row) in user.query.enumerated() {
                for (t, name) in labelNames.enumerated() {
                    guard let label = try table.number(row: row, column: labelColumns[t]) else { continue }
                    try baseOut.write(user: user.user, task: name, label: label, score: Double(scores.base.scores[j * k + t]))
                    try tunedOut.write(user: user.user, task: name, label: label, score: Double(scores.finetuned.scores[j * k + t]))
                }
            }
            report.users += 1
            report.queryRows += user.query.count
            report.supportRows += user.support.count
            if scores.finetuned.finetuned { report.finetunedUsers += 1 }
            if let fallback = scores.finetuned.fallback { report.fallbacks[fallback.rawValue, default: 0] += 1 }
            progress(u + 1, users.count)
        }
        report.rowsWritten = baseOut.rowCount
        try baseOut.close()
        try tunedOut.close()
        return report
    }

    /// Row `row` of `table` as an event (`labels: true`) or a candidate: the model's columns only.
    private func values(row: Int, table: CSVTable, roles: [Predictor.ColumnRole], labels: Bool, predictor: Predictor) throws -> [String: FeatureValue] {
        var out: [String: FeatureValue] = [:]
        for (c, name) in table.columns.enumerated() {
            switch roles[c] {
            case .unused: continue
            case .label where !labels: continue
            case .input, .label:
                do {
                    if let v = try predictor.requestValue(column: name, text: table.rows[row][c]) { out[name] = v }
                } catch {
                    throw table.invalidValue(row: row, column: c, reason: error.description)
                }
            }
        }
        return out
    }
}

/// A problem with one line of an input file that is not a CSV syntax error: `file:line: reason`.
struct CellError: Error, CustomStringConvertible {
    var file: String
    var line: Int
    var reason: String
    var description: String { "\(file):\(line): \(reason)" }
}
