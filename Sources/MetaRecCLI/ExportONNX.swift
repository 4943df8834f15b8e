import ArgumentParser
import Foundation
import ModelDescription
import Serving

/// `metarec export-onnx`: one user's scorer (their adapted towers) as an ONNX model for a device.
struct ExportONNX: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-onnx",
        abstract: "Export a user's scorer (meta-layer inputs -> scores, with that user's adapted towers) as ONNX.",
        discussion: """
            The towers are adapted on the user's support rows in the model's support store with \
            the model's serving policy (--steps/--learning-rate override it), with serving's \
            fallbacks to the base towers. The ONNX graph (opset 17) takes f float (C, K*H), the \
            candidates' meta-layer inputs from the shared bottom, and returns scores float (C, K). \
            With --request (a score request body for this user) and --check-out, also writes the \
            request's f, MetaRec's scores for it (the whole serving path) and quick single-thread \
            timings (medians), for an equality and latency check in onnxruntime.
            """)

    @Option(help: "Model directory.") var model: String
    @Option(help: "User (the model's task key value).") var user: String
    @Option(help: "ONNX file to write.") var out: String
    @Option(help: "Inner steps (default: the model's serving policy).") var steps: Int?
    @Option(help: "Inner learning rate (default: the model's serving policy).") var learningRate: Float?
    @Option(help: "A score request body (JSON) for --user: its f and MetaRec's scores go to --check-out.") var request: String?
    @Option(help: "JSON file for the check: f, MetaRec's scores, timings.") var checkOut: String?
    @Option(help: "Timed repetitions for --check-out.") var iterations: Int = 200

    func validate() throws {
        guard (request == nil) == (checkOut == nil) else { throw ValidationError("--request and --check-out go together") }
        if let steps, steps < 0 || steps > 100 { throw ValidationError("--steps must be in 0...100") }
        if let learningRate, !(learningRate >= 0 && learningRate.isFinite) { throw ValidationError("--learning-rate must be finite and >= 0") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be >= 1") }
    }

    func run() async throws {
        try reportingErrors {
            let served = ServingModel(try LoadedModel(path: model))
            guard served.config.model.starTowers == nil else {
                // The device scorer takes no scene: it would score with the shared towers.
                throw ValidationError("\(model): model.star_towers: export-onnx does not export STAR towers yet (a device scorer has no scene); "
                                      + "serve the model (metarec serve scores each request's scene)")
            }
            guard served.config.model.partitionedNorm == nil else {
                // The scene-free scorer would normalise every row with one scene's statistics.
                throw ValidationError("\(model): model.partitioned_norm: export-onnx does not export partitioned normalisation yet "
                                      + "(a device scorer has no scene); serve the model (metarec serve normalises each row by its scene)")
            }
            var settings = ServingSettings(served.config)
            if let steps { settings.adaptation.steps = steps }
            if let learningRate { settings.adaptation.learningRate = learningRate }
            let predictor = Predictor(model: served, settings: settings)
            let scorer = predictor.personalScorer(user: user)
            let bytes = scorer.onnxModel()
            try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)
            let towers = zip(scorer.taskNames, scorer.adapted).map { "\($0) \($1 ? "adapted" : "base")" }.joined(separator: ", ")
            printError("wrote \(out) (\(bytes.count) bytes): user \(user), \(scorer.supportRows) support rows, towers: \(towers)"
                       + (scorer.fallback.map { " (fallback: \($0.rawValue))" } ?? ""))
            if let request, let checkOut { try check(predictor: predictor, scorer: scorer, request: request, out: checkOut) }
        }
    }

    /// Writes the request's f, MetaRec's scores and quick timings to `out`.
    func check(predictor: Predictor, scorer: PersonalScorer, request path: String, out: String) throws {
        guard let body = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        let request = try RequestDecoding.scoreRequest(from: body, maxCandidates: predictor.settings.maxCandidates)
        guard request.user == user else { throw ValidationError("\(path) is a request for user \(request.user), not --user \(user)") }
        let f = try predictor.metaLayerInputs(of: request)
        let result = try predictor.score(request)
        let c = request.candidateCount
        if result.fallback != scorer.fallback {
            printError("warning: the request fell back (\(result.fallback?.rawValue ?? "none")) where the export did not (\(scorer.fallback?.rawValue ?? "none")): scores will differ")
        }
        let whole = Self.median(iterations) { _ in _ = try? predictor.score(request) }
        let towersOnly = Self.median(iterations) { _ in _ = scorer.scores(metaInputs: f, count: c) }
        let object: [String: Any] = [
            "count": c, "width": f.count / max(c, 1), "tasks": scorer.taskNames, "f": f.map(Double.init),
            "metarec_scores": result.scores.map(Double.init), "scorer_scores": scorer.scores(metaInputs: f, count: c).map(Double.init),
            "metarec_whole_request_p50_us": whole, "metarec_towers_only_p50_us": towersOnly, "iterations": iterations,
        ]
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: out))
        printError("check: \(c) candidates; MetaRec p50 whole request \(Int(whole)) µs, towers only \(String(format: "%.1f", towersOnly)) µs (quick measurement, \(iterations) runs)")
    }

    /// The median wall time of `body` in µs over `n` runs (after one warm-up run).
    static func median(_ n: Int, _ body: (Int) -> Void) -> Double {
        body(-1)
        let clock = ContinuousClock()
        var times: [Double] = []
        for i in 0..<n {
            let d = clock.measure { body(i) }
            times.append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
        }
        return times.sorted()[n / 2]
    }
}
