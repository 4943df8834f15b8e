import ArgumentParser
import Foundation
import Logging
import MetaTrain
import ModelDescription
import Recommendation
import Retrieval
import Serving

/// The demo's recall → rank → serve step, on a synthetic catalogue (``CatalogueSyntheticGenerator``:
/// clicks follow each user's drifting interest, likes their own taste):
///
/// 1. the log written for both stages (`metarec datasets synthetic-catalogue`);
/// 2. a two-tower retrieval model (BoW history encoder) trained on the clicks, chronological split
///    (per user the last T = 5 clicks are the test targets, the 5 before them validation; the
///    ranker's rows are split at the same clicks, ``CatalogueSyntheticDataset``);
/// 3. an MMoE ranker with MAML towers (first order, k = 3) and the support-set encoder (the
///    user's newest support items pooled into its input) trained on the impressions (click, like);
/// 4. `POST /v1/recommend`'s code path in process (``Recommendation/Recommender``): history = the
///    user's clicks before the held-out ones, recall n = 200 of N items, rank them by a task's
///    score (click or like), unadapted or fine-tuned on the user's support rows under one of the
///    demo's serving policies, top k = 10. The task and policy are chosen by recall@10 on the
///    validation users (the 5 clicks before the test ones); on the test users, recall@10 and
///    nDCG@10 against popularity and the retrieval order alone, paired bootstrap CIs over users,
///    then the latency of one recommendation and its recall share.
struct DemoRecommend {
    var out: String
    /// The catalogue log's settings (the demo: 2,000 users, 2,000 items, 20 genres).
    var catalogue: CatalogueSyntheticConfig
    var epochs: Int
    var logger: Logger

    static let (k, n) = (10, 200)
    /// `T`: held-out clicks per user for validation and for test.
    var targets: Int { catalogue.heldOutClicks }

    /// Runs the step, printing as it goes.
    /// - Returns: the test table's rows: popularity, the retrieval order, the chosen unadapted and
    ///   fine-tuned rankings, each with its per-user metrics.
    @discardableResult
    func run() async throws -> [(name: String, metrics: [CaseMetrics])] {
        let data = "\(out)/catalogue"
        say("-- writing the catalogue log: \(catalogue.users) users, \(catalogue.items) items in \(catalogue.genres) genres → \(data)")
        let summary = try CatalogueSyntheticDataset.write(catalogue, to: data, progress: Datasets.progress())
        for file in summary.files { say(summary.line(for: file)) }

        let log = try InteractionLog.readMovieLens(directory: data)
        let split = NextItemSplit(log, targets: targets)
        guard !split.test.isEmpty else {
            throw ValidationError("the catalogue log has no user with \(2 * targets + 2) clicks or more: nothing to evaluate "
                                  + "(more --catalogue-users)")
        }
        let retrievalPath = try trainRetrieval(log: log, split: split, to: "\(out)/catalogue-retrieval")
        let rankerPath = try trainRanker(summary, to: "\(out)/catalogue-ranker")

        let loaded = try LoadedModel(path: rankerPath)
        let model = ServingModel(loaded)
        let retrieval = try RetrievalModelFiles.read(retrievalPath)
        let recommender = try Recommender(model: retrieval, itemFeature: "item_id", ranker: loaded.config,
                                          catalogue: try ItemCatalogue(path: "\(data)/items.csv", itemFeature: "item_id", ranker: loaded.config))
        var batchers: [AutoBatcher] = []
        do {
            for policy in Demo.policies {
                var config = loaded.config
                (config.meta.innerLoss, config.meta.headSolver) = (policy.loss, policy.head)
                let settings = ServingSettings(finetune: true, adaptation: config.adaptation(steps: policy.steps, learningRate: policy.learningRate),
                                               maxCandidates: max(Self.n, config.serving.maxCandidates))
                batchers.append(AutoBatcher(predictor: Predictor(model: model, settings: settings),
                                            configuration: .init(maxRequests: 8, maxWait: .zero, workers: 1), logger: logger))
                batchers.last!.start()
            }
            var events = try HeldOutImpressions(directory: data)
            let methods = try await evaluate(recommender, batchers: batchers, log: log, split: split, events: &events)
            for batcher in batchers { await batcher.shutdown() }
            return methods
        } catch {
            for batcher in batchers { await batcher.shutdown() }
            throw error
        }
    }

    /// One way of ranking the recalled items: the ranker's `orderBy` score, unadapted or
    /// fine-tuned under one of ``Demo/policies`` (an index into the batchers).
    struct Ranking {
        var orderBy: String
        var policy: Int?
        var name: String { "+ ranker by \(orderBy), " + (policy.map { Demo.policies[$0].name } ?? "unadapted") }
    }

    /// Step 4 of the type's comment: every ranking on the validation cases, the best unadapted and
    /// the best fine-tuned one (by validation recall@k) on the test cases, the table, the latency.
    private func evaluate(_ recommender: Recommender, batchers: [AutoBatcher], log: InteractionLog, split: NextItemSplit,
                          events: inout HeldOutImpressions) async throws -> [(name: String, metrics: [CaseMetrics])] {
        let tasks = batchers[0].predictor.taskNames
        let rankings = tasks.flatMap { task in [Ranking(orderBy: task, policy: nil)] + Demo.policies.indices.map { Ranking(orderBy: task, policy: $0) } }
        say("-- choosing the ranking on the \(split.validation.count) validation users (their \(targets) clicks before the test ones), "
            + "recall n = \(Self.n) of \(log.itemIDs.count), k = \(Self.k), seen items excluded:")
        let predictor = batchers[0].predictor  // every batcher's predictor serves the same model and support store
        var sent = 0
        for c in split.validation { sent += try events.replay(user: String(log.userIDs[c.user]), beforeClickFromEnd: 2 * targets, to: predictor) }
        say("   \(sent) events replayed first: the users' impressions after their training rows, before the validation clicks")
        var validation: [Double] = []
        for ranking in rankings {
            let run = try await recommendations(ranking, cases: split.validation, recommender: recommender, batchers: batchers, log: log)
            if validation.isEmpty {  // the recall, the same for every ranking
                say(String(format: "   retrieval order (no ranker): validation recall@%d %.4f", Self.k, Self.mean(run.recalled) { $0.recall[Self.k]! }))
            }
            validation.append(Self.mean(run.ranked) { $0.recall[Self.k]! })
            say(String(format: "   %@: validation recall@%d %.4f", ranking.name, Self.k, validation.last!))
        }
        func best(_ fineTuned: Bool) -> Ranking {
            let candidates = rankings.indices.filter { (rankings[$0].policy != nil) == fineTuned }
            return rankings[candidates.max { validation[$0] < validation[$1] }!]
        }
        let (plain, adapted) = (best(false), best(true))
        sent = 0
        for c in split.test { sent += try events.replay(user: String(log.userIDs[c.user]), beforeClickFromEnd: targets, to: predictor) }
        say("-- test: \(split.test.count) users (history: their clicks before the \(targets) held-out ones; "
            + "\(sent) more events replayed first, up to the first held-out click)")
        let unadaptedRun = try await recommendations(plain, cases: split.test, recommender: recommender, batchers: batchers, log: log)
        let adaptedRun = try await recommendations(adapted, cases: split.test, recommender: recommender, batchers: batchers, log: log)
        let methods: [(name: String, metrics: [CaseMetrics])] = [
            ("popularity", zip(split.test, Baselines.popularity(split.test, items: log.itemIDs.count, k: Self.k)).map { CaseMetrics($0, ranked: $1, cutoffs: [Self.k]) }),
            ("retrieval order (BoW)", unadaptedRun.recalled), (plain.name, unadaptedRun.ranked), (adapted.name, adaptedRun.ranked),
        ]
        say(Self.table(methods))
        say(String(format: "fine-tuned on %.1f support rows per user on average", adaptedRun.supportRows))
        say(latency(adaptedRun.seconds, recall: CatalogueRecall(model: recommender.model), cases: split.test))
        return methods
    }

    /// `ranking`'s top `k` for every case (history: the case's; user: its user), with the retrieval
    /// order's top `k` beside it, the wall-clock seconds of each call and the mean support rows.
    private func recommendations(_ ranking: Ranking, cases: [NextItemSplit.Case], recommender: Recommender, batchers: [AutoBatcher],
                                 log: InteractionLog) async throws -> (ranked: [CaseMetrics], recalled: [CaseMetrics], seconds: [Double], supportRows: Double) {
        var ranked: [CaseMetrics] = [], recalled: [CaseMetrics] = [], seconds: [Double] = [], supportRows = 0
        let rows = recommender.model.index.rows
        for testCase in cases {
            let request = RecommendRequest(user: String(log.userIDs[testCase.user]), k: Self.k, n: Self.n,
                                           history: testCase.history.map { String(log.itemIDs[Int($0)]) },
                                           orderBy: ranking.orderBy, finetune: ranking.policy != nil)
            let started = ContinuousClock.now
            let result = try await recommender.recommend(request, batcher: batchers[ranking.policy ?? 0])
            seconds.append(Demo.seconds(ContinuousClock.now - started))
            supportRows += result.ranked.supportRows
            ranked.append(CaseMetrics(testCase, ranked: result.order.map { rows[result.keys[$0]]! }, cutoffs: [Self.k]))
            recalled.append(CaseMetrics(testCase, ranked: result.keys.prefix(Self.k).map { rows[$0]! }, cutoffs: [Self.k]))
        }
        return (ranked, recalled, seconds, Double(supportRows) / Double(max(1, cases.count)))
    }

    static func mean(_ m: [CaseMetrics], _ f: (CaseMetrics) -> Double) -> Double { m.map(f).reduce(0, +) / Double(max(1, m.count)) }

    /// Trains the BoW two-tower model (small widths: d 32) and publishes it; prints each epoch.
    private func trainRetrieval(log: InteractionLog, split: NextItemSplit, to path: String) throws -> String {
        var config = RetrievalConfig(items: log.itemIDs.count, itemFeatures: log.genres.count)
        (config.dimension, config.embeddingWidth, config.hiddenWidth, config.maxHistory) = (32, 16, 64, 20)
        try config.validate()
        say("-- retrieval: BoW two-tower, d \(config.dimension), \(split.trainingPositions.count) training clicks, up to \(epochs + 2) epochs")
        let trained = RetrievalTraining.train(config: config, log: log, split: split, epochs: epochs + 2) { r in
            say(String(format: "   epoch %d: loss %.4f, validation recall@50 %.4f (%.1f s)", r.epoch, r.loss, r.validationRecall, r.seconds))
        }
        return try RetrievalModelFiles.write(trained, config: config, catalogue: log.itemIDs, to: path)
    }

    /// Trains the ranker (MMoE, MAML towers first order k = 3) on the impressions.
    private func trainRanker(_ summary: DatasetSummary, to path: String) throws -> String {
        var config = try ModelConfig.load(yamlFile: summary.configPath)
        (config.meta.enabled, config.meta.order, config.meta.innerSteps) = (true, .first, 3)
        // The support-set encoder: the user's newest support rows' items pooled into the bottom's input
        // (mean, and weighted by click − the user's click rate), so the ranker sees the recent history
        // (validation recall@10 0.107 with it against 0.096 without, seed 1).
        config.model.supportEncoder = .init(source: "item_id", pooling: [.mean, .labelWeighted], label: "click")
        let configPath = "\(out)/catalogue-ranker.yaml"
        try AtomicFile.write(config.yamlString(), to: configPath)
        say("-- ranker: MMoE with MAML towers (first order, k = 3) and the support-set encoder over item_id, on the impressions, "
            + "\(epochs) epochs: \(configPath)")
        var job = TrainingJob(configPath: configPath, trainingPath: summary.file(.train).path,
                              validationPath: summary.file(.validation).path, outputDirectory: path)
        job.epochs = epochs
        try job.run(progress: ProgressReporter(logger: logger))
        return path
    }

    /// Rows: popularity, the retrieval order, the unadapted ranking, the fine-tuned one; columns:
    /// recall@k and nDCG@k means, and the paired bootstrap difference of each row against the
    /// retrieval order and (the fine-tuned row) against the unadapted one.
    static func table(_ methods: [(name: String, metrics: [CaseMetrics])]) -> String {
        func values(_ m: [CaseMetrics], _ metric: PerUserMetric) -> PerUserValues {
            PerUserValues(metric: metric, values: Dictionary(uniqueKeysWithValues: m.map { c in
                (String(c.user), { if case .recall = metric { c.recall[k]! } else { c.ndcg[k]! } }())
            }))
        }
        func ci(_ d: PairedDifference?) -> String { d.map { String(format: "%+.4f [%+.4f, %+.4f]", $0.mean, $0.low, $0.high) } ?? "-" }
        let base = methods[1].metrics, plain = methods[2].metrics
        var lines = ["recommendations per test user (Δ: paired bootstrap over users, 95 % CI)",
                     "method".padding(toLength: 40, withPad: " ", startingAt: 0) + "recall@\(k)".leftPadded(10) + "nDCG@\(k)".leftPadded(10)
                     + "Δ recall@\(k) vs retrieval order".leftPadded(36) + "Δ recall@\(k) vs unadapted".leftPadded(32)]
        for (i, (name, m)) in methods.enumerated() {
            let vsBase = i != 1 ? ci(PairedBootstrap.difference(a: values(base, .recall(k: k)), b: values(m, .recall(k: k)))) : "-"
            let vsPlain = i == 3 ? ci(PairedBootstrap.difference(a: values(plain, .recall(k: k)), b: values(m, .recall(k: k)))) : "-"
            lines.append(name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%.4f", mean(m) { $0.recall[k]! }).leftPadded(10)
                         + String(format: "%.4f", mean(m) { $0.ndcg[k]! }).leftPadded(10) + vsBase.leftPadded(36) + vsPlain.leftPadded(32))
        }
        return lines.joined(separator: "\n")
    }

    /// Percentiles of the fine-tuned recommendations timed above (wall clock, one at a time,
    /// through the auto-batcher) and of the recall stage alone on the same histories.
    private func latency(_ seconds: [Double], recall: CatalogueRecall, cases: [NextItemSplit.Case]) -> String {
        var recall = recall
        var out: [(row: Int32, score: Float)] = []
        let recallSeconds = cases.map { c -> Double in
            let started = ContinuousClock.now
            recall.recall(history: Array(c.history), excluding: Array(c.history), n: Self.n, into: &out)
            return Demo.seconds(ContinuousClock.now - started)
        }
        func p(_ xs: [Double], _ q: Double) -> Double { let s = xs.sorted(); return 1e6 * s[min(s.count - 1, Int(q * Double(s.count)))] }
        return String(format: "one fine-tuned recommendation (recall %d of %d, rank them, one at a time, in process): p50 %.0f µs, p90 %.0f µs, "
                      + "p99 %.0f µs over %d users; recall alone p50 %.0f µs (%.0f %% of p50)",
                      Self.n, recall.model.index.count, p(seconds, 0.5), p(seconds, 0.9), p(seconds, 0.99), seconds.count,
                      p(recallSeconds, 0.5), 100 * p(recallSeconds, 0.5) / max(p(seconds, 0.5), 1e-9))
    }
}

extension Demo {
    /// A duration in seconds.
    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

/// Writes a line to standard output unbuffered, so it stays in order with progress on standard error.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
