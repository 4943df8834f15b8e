import ArgumentParser
import Foundation
import MetaTrain

/// `metarec eval`: per-task metrics of a model on a CSV log, optionally fine-tuned per task.
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model directory on a CSV log (AUC/logloss, RMSE/MAE per task).",
        discussion: """
            With --finetune on, each task's towers are adapted on its support rows (the same \
            inner loop as training and serving) and metrics are reported with and without \
            fine-tuning, overall and per activity bucket (support rows 0, 1-5, 6-20, 21-100, >100).
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
    @Option(help: "With --support file: fraction of each task's rows used as support.") var supportFraction: Double = 0.5
    @Option(help: "Inner steps (default: the model's meta.inner_steps).") var steps: Int?
    @Option(help: "Inner learning rate (default: the model's meta.inner_learning_rate).") var learningRate: Double?
    @Option(help: "Fewest support rows a task needs to be fine-tuned; tasks with fewer keep the base towers (default: the model's serving.finetune_min_support_rows).")
    var minSupport: Int?
    @Option(help: "Skip and count up to N malformed rows.") var maxBadRows: Int = 0
    @Option(help: "Output format.") var format: OutputFormat = .table

    func validate() throws {
        guard supportFraction > 0 && supportFraction < 1 else { throw ValidationError("--support-fraction must be in (0, 1)") }
        if let steps, steps < 0 { throw ValidationError("--steps must be >= 0") }
        if let minSupport, minSupport < 1 { throw ValidationError("--min-support must be >= 1") }
    }

    func run() async throws {
        try reportingErrors {
            var job = EvaluationJob(modelPath: model, dataPath: data)
            job.maxBadRows = maxBadRows
            if finetune == .off {
                let results = try job.run()
                print(try render(rows: results.map { (group: "all", tasks: nil, variant: "base", task: $0.task, metrics: $0.metrics) }))
                return
            }
            let source: SupportSource = support == .store ? .supportStore : .evaluatedFile(fraction: supportFraction)
            let (names, groups) = try job.runFineTuned(source: source, steps: steps, learningRate: learningRate,
                                                       minimumSupportRows: minSupport)
            var rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)] = []
            for g in groups {
                for (k, name) in names.enumerated() {
                    rows.append((g.name, g.tasks, "base", name, g.base[k]))
                    rows.append((g.name, g.tasks, "finetuned", name, g.fineTuned[k]))
                }
            }
            print(try render(rows: rows))
        }
    }

    /// The `--format json` document: `{"results": [{group, variant, task, count, tasks?, auc?, …}]}`.
    /// An undefined metric (e.g. the AUC of a bucket whose labels are all one class) is `null`:
    /// JSON has no NaN.
    static func json(rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)]) throws -> String {
        let objects: [[String: Any]] = rows.map { row in
            var o: [String: Any] = ["group": row.group, "variant": row.variant, "task": row.task, "count": row.metrics.count]
            if let tasks = row.tasks { o["tasks"] = tasks }
            for (name, value) in row.metrics.values { o[name] = value.isFinite ? value : NSNull() }
            return o
        }
        let data = try JSONSerialization.data(withJSONObject: ["results": objects], options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }

    private func render(rows: [(group: String, tasks: Int?, variant: String, task: String, metrics: TaskMetrics)]) throws -> String {
        switch format {
        case .json:
            return try Self.json(rows: rows)
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
            return lines.joined(separator: "\n")
        }
    }
}

/// Output format of `metarec eval`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
