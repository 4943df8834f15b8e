import ArgumentParser
import Foundation
import Logging
import MetaTrain

/// `metarec eval`: per-task metrics of a model on a CSV log, optionally fine-tuned per task.
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model directory on a CSV log (AUC/logloss, RMSE/MAE per task; GAUC, nDCG@K, recall@K per user).",
        discussion: """
            With --finetune on, each task's towers are adapted on its support rows (the same \
            inner loop as training and serving) and metrics are reported with and without \
            fine-tuning, overall and per activity bucket (support rows 0, 1-5, 6-20, 21-100, >100). \
            Per-user metrics (a user = the model's task key): GAUC, nDCG@K and recall@K for binary \
            tasks, nDCG@K (gain 2^rating - 1) for regression tasks; with --finetune on, each with the \
            paired bootstrap 95% CI of fine-tuned - base over users. A model whose config names a scene \
            column gets per-scene AUC/logloss (RMSE/MAE) and GAUC over the users inside each scene, \
            small scenes (under 5% of rows) flagged and pooled (base model, without --finetune).
            """)

    enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }
    enum Support: String, ExpressibleByArgument, CaseIterable {
        /// The model's support store (each task's most recent training rows).
        case store
        /// The earliest rows of each task in the evaluated file.
        case file
    }

    @Option(help: "Model directory.") var model: String
    @Option(help: "CSV log to evaluate.") var data: String
    @Option(help: "Fine-tune each task's towers before scoring.") var finetune: Switch = .off
    @Option(help: "Support rows for fine-tuning: the model's support store, or the earliest rows in the file.") var support: Support = .store
    @Option(help: SupportPrecisionOption.help) var supportPrecision: SupportPrecisionOption?
    @Option(help: "With --support file: fraction of each task's rows used as support.") var supportFraction: Double = 0.5
    @Option(help: "Inner steps (default: the model's meta.inner_steps).") var steps: Int?
    @Option(help: "Inner learning rate (default: the model's meta.inner_learning_rate).") var learningRate: Double?
    @Option(help: "Fewest support rows a task needs to be fine-tuned; tasks with fewer keep the base towers (default: the model's serving.finetune_min_support_rows).")
    var minSupport: Int?
    @Option(help: "Skip and count up to N malformed rows.") var maxBadRows: Int = 0
    @Option(help: "Cut-offs K of the per-user nDCG@K and recall@K, comma-separated.", transform: PerUserOutput.cutOffs)
    var k: [Int] = [5, 10]
    @Option(help: "Paired bootstrap resamples (CI of fine-tuned - base).") var resamples: Int = PairedBootstrap.defaultResamples
    @Option(help: "Paired bootstrap seed.") var seed: UInt64 = 1
    @Option(help: "Write the scored rows (user,task,label,score) to DIR/base.csv and, with --finetune on, DIR/finetuned.csv.")
    var scoredOut: String?
    @Option(help: "Output format.") var format: OutputFormat = .table
    @OptionGroup var policy: AdaptationOverrides
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        guard supportFraction > 0 && supportFraction < 1 else { throw ValidationError("--support-fraction must be in (0, 1)") }
        if let steps, steps < 0 { throw ValidationError("--steps must be >= 0") }
        if let minSupport, minSupport < 1 { throw ValidationError("--min-support must be >= 1") }
        guard resamples >= 1 else { throw ValidationError("--resamples must be >= 1") }
        try policy.validate()
    }

    func run() async throws {
        let logger = try logOptions.bootstrap()
        try reportingErrors {
            var job = EvaluationJob(modelPath: model, dataPath: data)
            job.maxBadRows = maxBadRows
            job.logger = logger
            job.supportPrecision = supportPrecision?.precision
            let overrides = policy
            job.policy = { overrides.applied(to: $0) }
            let options = PerUserOptions(ks: k, resamples: resamples, seed: seed)
            if finetune == .off {
                let result = try job.runPerUser(options: options)
                try writeScoredRows(result)
                print(try render(rows: zip(result.tasks, result.groups[0].base).map { (group: "all", tasks: nil, variant: "base", task: $0, metrics: $1) },
                                 perUser: result))
                return
            }
            let source: SupportSource = support == .store ? .supportStore : .evaluatedFile(fraction: supportFraction)
            let result = try job.runFineTunedPerUser(source: source, steps: steps, learningRate: learningRate,
                                                     minimumSupportRows: minSupport, options: options)
            try writeScoredRows(result)
            let names = result.tasks
            var rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)] = []
            for g in result.groups {
                for (k, name) in names.enumerated() {
                    rows.append((g.name, g.tasks, "base", name, g.base[k]))
                    rows.append((g.name, g.tasks, "finetuned", name, g.fineTuned[k]))
                }
            }
            print(try render(rows: rows, perUser: result))
        }
    }

    private func writeScoredRows(_ result: PerUserEvaluation) throws {
        guard let scoredOut else { return }
        try FileManager.default.createDirectory(atPath: scoredOut, withIntermediateDirectories: true)
        try ScoredRowsFile.write(result.base, to: scoredOut + "/base.csv")
        if let tuned = result.fineTuned { try ScoredRowsFile.write(tuned, to: scoredOut + "/finetuned.csv") }
    }

    /// The `--format json` document: `{"results": [{group, variant, task, count, tasks?, auc?, …}]}`,
    /// plus, given per-user metrics, `"task_key"` and `"per_user": [{group, task, scale, metric, base,
    /// base_users, base_skipped[, finetuned, …, diff, ci_low, ci_high, users]}]` (``PerUserOutput/json(_:a:b:)``),
    /// and, for a model with a `scene` column, `"scenes"` (the base model per scene, ``SceneOutput/json(_:tasks:)``).
    /// An undefined metric (e.g. the AUC of a bucket whose labels are all one class) is `null`:
    /// JSON has no NaN.
    static func json(rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)],
                     perUser: PerUserEvaluation? = nil) throws -> String {
        let objects: [[String: Any]] = rows.map { row in
            var o: [String: Any] = ["group": row.group, "variant": row.variant, "task": row.task, "count": row.metrics.count]
            if let tasks = row.tasks { o["tasks"] = tasks }
            for (name, value) in row.metrics.values { o[name] = value.isFinite ? value : NSNull() }
            return o
        }
        var document: [String: Any] = ["results": objects]
        if let perUser {
            document["task_key"] = perUser.taskKey
            document["per_user"] = PerUserOutput.json(perUser.perUser, a: "base", b: "finetuned")
            if let scenes = perUser.scenes { document["scenes"] = SceneOutput.json(scenes, tasks: perUser.tasks) }
        }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }

    private func render(rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)],
                        perUser: PerUserEvaluation) throws -> String {
        switch format {
        case .json:
            return try Self.json(rows: rows, perUser: perUser)
        case .table:
            func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
            func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
            var lines = [pad("group", 8) + pad("tasks", 7) + pad("variant", 10) + pad("task", 12) + pad("rows", 8)
                         + pad("auc", 8) + pad("logloss", 9) + pad("rmse", 8) + "mae"]
            for row in rows {
                let m = row.metrics
                lines.append(pad(row.group, 8) + pad(row.tasks.map(String.init) ?? "-", 7) + pad(row.variant, 10) + pad(row.task, 12)
                             + pad(String(m.count), 8) + pad(f(m.auc), 8) + pad(f(m.logLoss), 9) + pad(f(m.rmse), 8) + f(m.mae))
            }
            return lines.joined(separator: "\n") + "\n\n"
                + PerUserOutput.caption(userColumn: perUser.taskKey, resamples: perUser.fineTuned == nil ? nil : resamples, seed: seed) + "\n"
                + PerUserOutput.table(perUser.perUser, a: "base", b: "finetuned")
                + (perUser.scenes.map { "\n\n" + SceneOutput.table($0, tasks: perUser.tasks) } ?? "")
        }
    }
}

/// Output format of `metarec eval`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
