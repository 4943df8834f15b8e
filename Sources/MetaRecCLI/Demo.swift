import ArgumentParser
import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import ServingBench

/// `metarec demo`: the whole MetaRec loop on built-in synthetic data, in one process and with
/// nothing to download:
///
/// 1. synthetic CSV logs whose users have their own task weights (so per-user fine-tuning can help);
/// 2. MMoE trained without and with MAML-meta-learned towers (first order, k = 3);
/// 3. both evaluated on the test split, with and without per-user fine-tuning: the lift table;
/// 4. fine-tuned scoring served in-process: latency percentiles of the reference request
///    (the `metarec-bench serving --reference-only` measurement, here without malloc counts:
///    `metarec` does not link the counting malloc).
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Synthetic logs → MMoE ± MAML → per-user fine-tuned lift table → in-process serving latency.",
        discussion: """
            Writes OUT/data (CSV logs and config), OUT/plain.yaml, OUT/maml.yaml and the model \
            directories OUT/plain and OUT/maml. The same steps by hand: metarec datasets synthetic, \
            metarec train (twice), metarec eval --finetune on, metarec-bench serving --reference-only.
            """)

    @Option(help: "Output directory.") var out = "out/demo"
    @Option(help: "User population of the synthetic log.") var users = 5000
    @Option(help: "Rows (events) of the synthetic log.") var rows = 300_000
    @Option(help: "Training epochs of each model.") var epochs = 3

    /// Fine-tuning at evaluation time (inner steps k, α), the same for both models.
    static let evaluationSteps = 3
    static let evaluationLearningRate = 0.05

    func validate() throws {
        guard users >= 1, rows >= 1, epochs >= 1 else { throw ValidationError("--users, --rows and --epochs must be >= 1") }
    }

    func run() async throws {
        let start = ContinuousClock.now
        try reportingErrors {
            step("1/4 synthetic logs: \(users) users, \(rows) rows → \(out)/data")
            let summary = try SyntheticDataset.write(try SyntheticConfig(users: users, rows: rows), to: "\(out)/data",
                                                     progress: Datasets.progress())
            for file in summary.files { say(summary.line(for: file)) }

            step("2/4 training MMoE (plain) and MMoE with MAML towers (first order, k = 3), \(epochs) epochs each")
            let base = try ModelConfig.load(yamlFile: summary.configPath)
            var plain = base, maml = base
            plain.meta.enabled = false
            maml.meta.enabled = true
            maml.meta.order = .first
            maml.meta.innerSteps = 3
            var models: [(name: String, path: String)] = []
            for (name, config) in [("plain", plain), ("maml", maml)] {
                let configPath = "\(out)/\(name).yaml"
                try AtomicFile.write(config.yamlString(), to: configPath)
                say("-- \(name): \(configPath)")
                var job = TrainingJob(configPath: configPath, trainingPath: summary.file(.train).path,
                                      validationPath: summary.file(.validation).path, outputDirectory: "\(out)/\(name)")
                job.epochs = epochs
                try job.run(progress: ProgressReporter())
                models.append((name, "\(out)/\(name)"))
            }

            step("3/4 test split, with and without per-user fine-tuning (k = \(Self.evaluationSteps), α = \(Self.evaluationLearningRate); "
                 + "support: each user's latest training rows)")
            var results: [String: (tasks: [String], groups: [FineTuneComparison])] = [:]
            for model in models {
                say("-- evaluating \(model.name)")
                results[model.name] = try EvaluationJob(modelPath: model.path, dataPath: summary.file(.test).path)
                    .runFineTuned(source: .supportStore, steps: Self.evaluationSteps, learningRate: Self.evaluationLearningRate)
            }
            say(Self.liftTable(plain: results["plain"]!, maml: results["maml"]!))
        }

        step("4/4 in-process serving latency (reference request: towers 64→64→1, 2 tasks, S = 64, k = 3, C = 200)")
        do {
            // `reportingErrors` above already set one BLAS thread per call, as `metarec-bench serving` is run.
            var report = try await BenchServingRun(iterations: 300, batchedRequests: 3000, clients: 16, referenceOnly: true,
                                                   candidateForm: .columns).run()
            report.command = "metarec demo: metarec-bench serving --reference-only (no malloc counter in metarec)"
            say(report.table)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        let elapsed = (ContinuousClock.now - start).components
        say(String(format: "demo done in %.1f s; models in %@/plain and %@/maml",
                   Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18, out, out))
    }

    /// Rows: activity bucket × task; columns: plain MMoE, plain + fine-tuning, MAML + fine-tuning
    /// (AUC for binary tasks, higher is better; RMSE for regression tasks, lower is better).
    static func liftTable(plain: (tasks: [String], groups: [FineTuneComparison]),
                          maml: (tasks: [String], groups: [FineTuneComparison])) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
        func metric(_ m: TaskMetrics) -> (name: String, value: Double?) { m.kind == "binary" ? ("auc", m.auc) : ("rmse", m.rmse) }
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
        var lines = ["lift table (support rows = the user's rows in the support store; Δ = MAML+finetune − plain)",
                     pad("support rows", 14) + lpad("users", 6) + "  " + pad("task", 8) + pad("metric", 7)
                     + lpad("plain", 8) + lpad("plain+ft", 10) + lpad("MAML+ft", 10) + lpad("Δ", 9) + lpad("test rows", 11)]
        for g in plain.groups {
            guard let m = maml.groups.first(where: { $0.name == g.name }) else { continue }
            for (k, task) in plain.tasks.enumerated() {
                let (name, base) = metric(g.base[k])
                let tuned = metric(g.fineTuned[k]).value, meta = metric(m.fineTuned[k]).value
                let delta = meta.flatMap { a in base.map { String(format: "%+.4f", a - $0) } } ?? "-"
                lines.append(pad(g.name, 14) + lpad(String(g.tasks), 6) + "  " + pad(task, 8) + pad(name, 7)
                             + lpad(f(base), 8) + lpad(f(tuned), 10) + lpad(f(meta), 10) + lpad(delta, 9)
                             + lpad(String(g.base[k].count), 11))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A section header of the demo's output.
private func step(_ text: String) { say("\n== " + text) }

/// Writes a line to standard output unbuffered, so it stays in order with progress on standard error.
private func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
