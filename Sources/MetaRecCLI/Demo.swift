import ArgumentParser
import Foundation
import Logging
import MetaTrain
import ModelDescription
import ModelMath
import ServingBench

/// `metarec demo`: the whole MetaRec loop on built-in synthetic data, in one process and with
/// nothing to download:
///
/// 1. synthetic CSV logs whose users have their own task weights over the row features `x`
///    (`SyntheticGenerator`: `w_kᵤ = w_k + σ·aᵤ`), so a user's order of rows differs from the
///    shared order and only per-user adaptation can recover it;
/// 2. MMoE trained without and with MAML-meta-learned towers (first order, k = 3);
/// 3. both evaluated on the test split, with and without per-user fine-tuning under two serving
///    policies (pointwise steps; pairwise steps, which can only re-order): the lift table, per user
///    (GAUC, nDCG@5: the order of each user's rows) with paired bootstrap CIs, and global AUC as
///    a secondary column;
/// 4. fine-tuned scoring served in-process: latency percentiles of the reference request
///    (the `metarec-bench serving --reference-only` measurement, here without malloc counts:
///    `metarec` does not link the counting malloc);
/// 5. recall → rank → serve (``DemoRecommend``): a synthetic catalogue, a two-tower retrieval model
///    and an MMoE ranker with MAML towers, `POST /v1/recommend`'s code path run in process for
///    every test user: recall@10 against popularity and the retrieval order, and its latency.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Synthetic logs → MMoE ± MAML → per-user fine-tuned lift table → in-process serving latency.",
        discussion: """
            Writes OUT/data (CSV logs and config), OUT/plain.yaml, OUT/maml.yaml and the model \
            directories OUT/plain and OUT/maml. The same steps by hand: metarec datasets synthetic, \
            metarec train (twice), metarec eval --finetune on, metarec-bench serving --reference-only; \
            then metarec datasets synthetic-catalogue, metarec retrieval train, metarec train and metarec serve \
            --retrieval with POST /v1/recommend (OUT/catalogue, OUT/catalogue-retrieval, OUT/catalogue-ranker).
            """)

    @Option(help: "Output directory.") var out = "out/demo"
    @Option(help: "User population of the synthetic log.") var users = 5000
    @Option(help: "Rows (events) of the synthetic log.") var rows = 300_000
    @Option(help: "Training epochs of each model.") var epochs = 3
    @Option(help: "Users of the recall → rank step's synthetic catalogue log.") var catalogueUsers = 2000
    @OptionGroup var logOptions: LogOptions

    /// A user's deviation from the shared task weights, relative to them (`σ` of
    /// `SyntheticGenerator`): at 1 a user's order of rows is far from the shared order, so what
    /// the unadapted model misses is visible per user.
    static let userPerturbation = 1.0

    /// The serving policies compared at evaluation time, the same for both models: the config's
    /// default (pointwise steps) and a re-ranking one (pairwise steps, then the output bias refitted).
    static let policies: [(name: String, steps: Int, learningRate: Double, loss: ModelConfig.InnerLossName,
                           head: ModelConfig.HeadSolverName)] = [
        ("pointwise k=3", 3, 0.05, .pointwise, .gradient),
        ("pairwise k=20", 20, 1.0, .pairwise, .offset),
    ]

    func validate() throws {
        guard users >= 1, rows >= 1, epochs >= 1 else { throw ValidationError("--users, --rows and --epochs must be >= 1") }
        do {
            _ = try CatalogueSyntheticConfig(users: catalogueUsers)
        } catch DatasetError.invalidOption(_, let reason) {
            throw ValidationError("--catalogue-users: \(reason)")
        }
    }

    func run() async throws {
        let logger = try logOptions.bootstrap()
        let start = ContinuousClock.now
        try reportingErrors {
            say("planted structure: each user's task weights over the row features x deviate from the shared ones by "
                + "σ = \(Self.userPerturbation) of their size (SyntheticGenerator), so each user's order of rows differs "
                + "from the shared order; only per-user adaptation can recover it.")
            step("1/5 synthetic logs: \(users) users, \(rows) rows → \(out)/data")
            let summary = try SyntheticDataset.write(try SyntheticConfig(users: users, rows: rows, userPerturbation: Self.userPerturbation),
                                                     to: "\(out)/data",
                                                     progress: Datasets.progress())
            for file in summary.files { say(summary.line(for: file)) }

            step("2/5 training MMoE (plain) and MMoE with MAML towers (first order, k = 3), \(epochs) epochs each")
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
                try job.run(progress: ProgressReporter(logger: logger))
                models.append((name, "\(out)/\(name)"))
            }

            step("3/5 test split, with and without per-user fine-tuning (support: each user's latest training rows)")
            var results: [(name: String, evaluation: PerUserEvaluation)] = []
            for model in models {
                for policy in Self.policies {
                    say("-- evaluating \(model.name), \(policy.name)")
                    var job = EvaluationJob(modelPath: model.path, dataPath: summary.file(.test).path)
                    job.policy = { config in
                        var config = config
                        config.meta.innerLoss = policy.loss
                        config.meta.headSolver = policy.head
                        return config
                    }
                    let evaluation = try job.runFineTunedPerUser(source: .supportStore, steps: policy.steps,
                                                                 learningRate: policy.learningRate, options: PerUserOptions(ks: [5]))
                    results.append(("\(model.name), \(policy.name)", evaluation))
                }
            }
            say(Self.liftTable(results))
        }

        step("4/5 in-process serving latency (reference request: towers 64→64→1, 2 tasks, S = 64, k = 3, C = 200)")
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
        step("5/5 recall → rank → serve: a synthetic catalogue, a two-tower retrieval model, an MMoE ranker with MAML towers, "
             + "POST /v1/recommend's code path in process")
        do {
            try await DemoRecommend(out: out, catalogue: try CatalogueSyntheticConfig(users: catalogueUsers), epochs: epochs, logger: logger).run()
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        let elapsed = (ContinuousClock.now - start).components
        say(String(format: "demo done in %.1f s; models in %@/plain and %@/maml",
                   Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18, out, out))
    }

    /// Rows: model × task × per-user metric; columns: unadapted, fine-tuned, Δ with its paired
    /// bootstrap 95 % CI over users, and the global AUC of both (a per-user offset moves global
    /// AUC but not the per-user columns, which are the ones personalisation must move).
    static func liftTable(_ results: [(name: String, evaluation: PerUserEvaluation)]) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
        var lines = ["lift table, per user (GAUC: AUC within each user, row-weighted; nDCG@5 of each user's rows; "
                     + "Δ = fine-tuned − unadapted, 95 % CI by paired bootstrap over users)",
                     pad("model, policy", 22) + pad("task", 8) + pad("metric", 8) + lpad("users", 6) + lpad("unadapted", 11)
                     + lpad("fine-tuned", 11) + lpad("Δ", 9) + lpad("95 % CI", 20) + lpad("global AUC", 18)]
        for (name, evaluation) in results {
            guard let all = evaluation.perUser.first(where: { $0.name == "all" }),
                  let global = evaluation.groups.first(where: { $0.name == "all" }) else { continue }
            for (k, report) in all.reports.enumerated() {
                let auc = k < global.base.count ? "\(f(global.base[k].auc)) → \(f(global.fineTuned[k].auc))" : "-"
                for (m, metric) in report.metrics.enumerated() where metric != .recall(k: 5) {
                    let d = report.differences[m]
                    let ci = d.map { String(format: "[%+.4f, %+.4f]", $0.low, $0.high) } ?? "-"
                    lines.append(pad(name, 22) + pad(report.task, 8) + pad(metric.description, 8) + lpad(String(d?.users ?? 0), 6)
                                 + lpad(f(report.a[m].mean), 11) + lpad(f(report.b?[m].mean), 11)
                                 + lpad(d.map { String(format: "%+.4f", $0.mean) } ?? "-", 9) + lpad(ci, 20)
                                 + lpad(m == 0 ? auc : "", 18))
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A section header of the demo's output.
private func step(_ text: String) { say("\n== " + text) }
