import ArgumentParser
import Foundation
import MetaTrain
import Retrieval

/// `metarec retrieval eval`: the models (one per seed, metrics averaged per user) against
/// popularity and co-occurrence on the same split, with paired bootstrap CIs over users.
struct RetrievalEval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Recall@K and nDCG@K over the whole catalogue (K = 10, 50, 100) of models and baselines, by history length.",
        discussion: """
            Every model directory is ranked on the same split; a user's metric is the mean over the \\
            models given (e.g. three seeds). Baselines: popularity and item-item co-occurrence, the \\
            latter's damping chosen on the validation split. Already-seen items are excluded for all. \\
            Differences model - baseline are paired over users with a bootstrap 95% CI. With \
            --adapt-steps k > 0 (default: the adaptation the model was trained with, if any), each \
            user's embedding is also adapted on their last --adapt-support history items (k gradient \
            steps of the full-catalogue softmax, rate --adapt-rate) and the adapted model is compared \
            with the same models unadapted.
            """)

    @Option(help: "MovieLens directory (ratings.csv, movies.csv).") var data: String
    @Option(help: "Model directory (repeat: one per seed).") var model: [String]
    @Option(help: "Split: test or validation.") var split: String = "test"
    @Option(help: "Targets per user (as in training; chronological protocol).") var targets: Int = 5
    @Option(help: "Protocol, as in training: chronological or tflite.") var `protocol`: RetrievalProtocol = .chronological
    @Option(help: "tflite protocol: the history items before each target (training's --max-history).") var context: Int = 10
    @Option(help: "tflite protocol: the random split's seed (training's --split-seed).") var splitSeed: UInt64 = 1
    @Option(help: "Paired bootstrap resamples.") var resamples: Int = PairedBootstrap.defaultResamples
    @Option(help: "Write per-user metrics (CSV) here.") var perUserOut: String?
    @Option(help: "Per-request adaptation: gradient steps on the user's recent items (0: off; default: the model's own).") var adaptSteps: Int?
    @Option(help: "Per-request adaptation: step size on the unit sphere (default: the model's own, else 0.03).") var adaptRate: Float?
    @Option(help: "Per-request adaptation: the most recent history items adapted on (default: the model's own, else 5).") var adaptSupport: Int?

    func run() async throws {
        try reportingErrors {
            guard split == "test" || split == "validation" else { throw ValidationError("--split must be test or validation") }
            let log = try InteractionLog.readMovieLens(directory: data)
            let chronological = try `protocol`.split(log, targets: targets, context: context, seed: splitSeed)
            let cases = split == "test" ? chronological.test : chronological.validation
            let k = RetrievalMetrics.cutoffs.max()!
            var methods: [(String, [CaseMetrics])] = []
            var perModel: [[CaseMetrics]] = [], perModelAdapted: [[CaseMetrics]] = []
            for directory in model {
                let loaded = try RetrievalModelFiles.read(directory)
                let (manifest, parameters, embeddings) = (loaded.manifest, loaded.parameters, loaded.index.embeddings)
                let own = manifest.config.adaptation
                let adaptation = try UserAdaptation(steps: adaptSteps ?? own?.steps ?? 0, rate: adaptRate ?? own?.rate ?? 0.03,
                                                    supportSize: adaptSupport ?? own?.supportSize ?? 5)
                guard manifest.catalogue == log.itemIDs else { throw RetrievalError.mismatch("\(directory): catalogue differs from \(data)") }
                let ranked = TwoTowerRanking.rank(cases, parameters: parameters, itemEmbeddings: embeddings,
                                                  maxHistory: manifest.maxHistory, k: k)
                perModel.append(zip(cases, ranked).map { CaseMetrics($0, ranked: $1) })
                if adaptation.steps > 0 {
                    printError("adapted: \(adaptation.steps) steps, rate \(adaptation.rate), on the last \(adaptation.supportSize) history items")
                    let adapted = TwoTowerRanking.rank(cases, parameters: parameters, itemEmbeddings: embeddings, maxHistory: manifest.maxHistory,
                                                       k: k, adaptation: (adaptation, manifest.temperature))
                    perModelAdapted.append(zip(cases, adapted).map { CaseMetrics($0, ranked: $1) })
                }
                printError("ranked \(cases.count) users with \(directory) (\(manifest.encoder), best epoch \(manifest.bestEpoch))")
            }
            if !perModelAdapted.isEmpty {
                guard perModelAdapted.count == perModel.count else {
                    throw ValidationError("some models are adapted and some not: give --adapt-steps to treat them alike")
                }
                methods.append(("two-tower adapted", RetrievalReport.average(perModelAdapted)))
            }
            methods.append(("two-tower", RetrievalReport.average(perModel)))
            methods.append(("popularity", zip(cases, Baselines.popularity(cases, items: log.itemIDs.count, k: k)).map { CaseMetrics($0, ranked: $1) }))
            let damping = RetrievalReport.chooseDamping(chronological.validation, items: log.itemIDs.count)
            printError("co-occurrence damping chosen on validation: \(damping)")
            methods.append(("cooc(a=\(damping))", zip(cases, Baselines.coOccurrence(cases, items: log.itemIDs.count, k: k, damping: damping))
                .map { CaseMetrics($0, ranked: $1) }))
            print("split \(split) (\(`protocol`.rawValue)): \(cases.count) cases, \(log.itemIDs.count) items, \(model.count) model(s); "
                  + "paired bootstrap \(resamples) resamples, 95% CI")
            print(RetrievalReport.table(methods, resamples: resamples))
            if let perUserOut { try RetrievalReport.writePerUser(methods, userIDs: log.userIDs, to: perUserOut) }
        }
    }
}
