import Foundation
import Histogram
import ModelDescription
import ModelMath
import Serving
import TensorCore

/// The pure "adapt + score from given f" timing of one cell (`--adapt-score S,k,C`), the part of
/// a request that the Python peers (`Benchmarks/peers/`) reproduce:
///
/// ```
/// per task t:  θ'_t = adapt(θ_t; F_t (S, H), y_t (S))   k SGD steps, α from the serving config
///              score_t = Tower_t(f_t (C, H); θ'_t)       (C)
/// ```
/// The inputs are one real request's: `F_t` pulled from the support store (written through the
/// events path), `f_t` the bottom's output on the request's candidates. The scores of this path
/// must equal `Predictor.score` on the same request (rel ≤ 1e-5) before anything is timed; with
/// `--dump-request FILE` the inputs and scores are written as safetensors for the peers.
struct AdaptScoreCell: Codable {
    var support: Int
    var steps: Int
    var candidates: Int
    var iterations: Int
    var learningRate: Float
    var p50Microseconds: Double
    var p90Microseconds: Double
    var p99Microseconds: Double
    var meanMicroseconds: Double
    /// Mean of `Predictor.phaseTimes(...).finetune` (support pull + copies + adapt + score), µs.
    var servingFinetuneMicroseconds: Double
    /// Largest |adapt+score − Predictor.score| over the request's scores.
    var maxDifferenceToServed: Double
    /// `Predictor.score` of the same request (candidates as columns): encode + bottom + support pull
    /// + adapt + score, one thread.
    var wholeRequest: RequestLatency
    /// The same request with `finetune: false`: encode + bottom + the base towers.
    var unadaptedRequest: RequestLatency
}

/// The timed work of one request, with its buffers: stored properties of a value mutated in
/// place, so the loop pays no closure-capture boxes (and no dynamic exclusivity checks on them),
/// which a request in the predictor does not pay either.
struct AdaptScoreLoop {
    let base: ModelParameters
    let activation: Activation
    let tasks: [TaskSpec]
    let adaptation: Adaptation
    let supportMeta: [Tensor], supportLabels: [Tensor], candidateMeta: [Tensor]  // K × (S, H), (S), (C, H)
    /// Per-task tower weights, reset from `base` and adapted on every run.
    var fast: [Tower]
    var workspace = TowerWorkspace()
    var predictions: [Float] = []
    /// (C, K) scores of the last run.
    var scores: [Float]

    init(base: ModelParameters, activation: Activation, tasks: [TaskSpec], adaptation: Adaptation,
         supportMeta: [Tensor], supportLabels: [Tensor], candidateMeta: [Tensor]) {
        self.base = base
        self.activation = activation
        self.tasks = tasks
        self.adaptation = adaptation
        self.supportMeta = supportMeta
        self.supportLabels = supportLabels
        self.candidateMeta = candidateMeta
        fast = base.towers.indices.map { t in  // fresh storage, overwritten per request
            let fresh = MLPParameters(layers: base.towers[t].layers.map {
                DenseLayer(weight: Tensor(shape: $0.weight.shape, scalars: Array($0.weight.scalars)),
                           bias: Tensor(shape: $0.bias.shape, scalars: Array($0.bias.scalars)))
            })
            return Tower(parameters: fresh, rates: base.innerRates(ofTask: t), kind: tasks[t].kind, activation: activation)
        }
        let candidates = candidateMeta.first?.rows ?? 0
        predictions.reserveCapacity(candidates)
        scores = [Float](repeating: 0, count: candidates * tasks.count)
    }

    /// Resets each task's tower to the base weights, adapts it on the support set and scores the
    /// candidates into ``scores``.
    mutating func adaptAndScore() {
        let kk = tasks.count
        for t in 0..<kk {
            fast[t].parameters.overwrite(with: base.towers[t])
            TowerRows.with(supportMeta[t], labels: supportLabels[t]) {
                fast[t].adapt(on: $0, policy: adaptation, workspace: &workspace)
            }
            candidateMeta[t].withUnsafeBufferPointer { f in
                scores.withUnsafeMutableBufferPointer { out in
                    _ = fast[t].predict(rows: candidateMeta[t].shape[0], features: f.baseAddress!,
                                        featureStride: candidateMeta[t].shape[1], into: out.baseAddress! + t,
                                        outputStride: kk, workspace: &workspace)
                }
            }
        }
    }
}

struct AdaptScoreRun {
    let support: Int
    let steps: Int
    let candidates: Int
    let iterations: Int
    let dumpPath: String?

    /// Parses `S,k,C`.
    static func cell(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts[0] >= 1, parts[0] <= 256, parts[1] >= 1, parts[1] <= ServingSettings.maxSteps,
              parts[2] >= 1, parts[2] <= 1000 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    func run() throws -> AdaptScoreCell {
        // The same seeded model as `--write-model` and the latency grid.
        let model = try ServingModel.synthetic()
        model.warmEmbeddings(items: 10_000, users: 0)
        var settings = ServingSettings(model.config)
        settings.maxCandidates = 1000
        let predictor = Predictor(model: model, settings: settings)
        let spec = model.config.networkSpec, tasks = model.config.taskSpecs
        let kk = spec.taskCount
        var traffic = SyntheticTraffic(items: 10_000, seed: 3)
        let user = "adapt-score-u0"
        _ = try predictor.record(events: traffic.events(user: user, count: support, tasks: kk))
        var request = traffic.request(user: user, candidates: candidates)
        request.steps = steps
        let served = try predictor.score(request)
        guard served.finetuned, served.supportRows == support else {
            throw BenchAdaptScoreError("request not fine-tuned on \(support) rows (got \(served.supportRows))")
        }

        let (supportMeta, supportLabels) = Self.supportBlocks(of: user, model: model, predictor: predictor, expected: support)
        let candidateMeta = try Self.candidateMetaInputs(request, user: user, model: model)  // K × (C, H)

        var adaptation = settings.adaptation
        adaptation.steps = steps
        var loop = AdaptScoreLoop(
            base: model.parameters, activation: spec.activation, tasks: tasks, adaptation: adaptation,
            supportMeta: supportMeta, supportLabels: supportLabels, candidateMeta: candidateMeta)
        loop.adaptAndScore()
        let scores = loop.scores
        var maxDifference = 0.0
        for (x, y) in zip(scores, served.scores) {
            let d = Double(abs(x - y))
            maxDifference = max(maxDifference, d)
            guard d <= 1e-5 * max(Double(abs(y)), 1e-3) else {
                throw BenchAdaptScoreError("adapt+score differs from Predictor.score: \(x) vs \(y)")
            }
        }
        // The same request without fine-tuning (the plain model's scores, for the ONNX Runtime peer), and
        // both in the columns form the HTTP server's JSON reader builds, for the whole-request timings.
        var plain = request
        plain.finetune = false
        let base = try predictor.score(plain)
        guard !base.finetuned else { throw BenchAdaptScoreError("finetune: false request came back fine-tuned") }
        if let dumpPath {
            let state = try PeerState.tensors(model: model, predictor: predictor, users: [user], items: 10_000)
            try dump(to: dumpPath, supportMeta: supportMeta, supportLabels: supportLabels, candidateMeta: candidateMeta,
                     scores: (served: served.scores, adapted: scores, base: base.scores),
                     learningRate: adaptation.learningRate, tasks: tasks, activation: spec.activation,
                     state: state, body: try PeerState.body(of: request))
        }

        let timed = Self.time(&loop, iterations: iterations)
        let phases = try predictor.phaseTimes(request, repetitions: max(200, iterations / 5))
        var columns = request
        columns.columns = try CandidateColumns(rows: request.candidates)
        columns.candidates = []
        let whole = try RequestLatency.measure(predictor, columns, iterations: iterations)
        columns.finetune = false
        let unadapted = try RequestLatency.measure(predictor, columns, iterations: iterations)
        return AdaptScoreCell(
            support: support, steps: steps, candidates: candidates, iterations: iterations,
            learningRate: adaptation.learningRate, p50Microseconds: timed.p50Microseconds,
            p90Microseconds: timed.p90Microseconds, p99Microseconds: timed.p99Microseconds,
            meanMicroseconds: timed.meanMicroseconds, servingFinetuneMicroseconds: phases.finetune * 1e6,
            maxDifferenceToServed: maxDifference, wholeRequest: whole, unadaptedRequest: unadapted)
    }

    /// Times `loop.adaptAndScore()` `iterations` times after a warm-up.
    static func time(_ loop: inout AdaptScoreLoop, iterations: Int) -> RequestLatency {
        for _ in 0..<max(200, iterations / 5) { loop.adaptAndScore() }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var total = 0.0
        for _ in 0..<iterations {
            let wall = MachinePeak.seconds(.wallClock) { loop.adaptAndScore() }
            total += wall
            _ = histogram.record(UInt64(wall * 1e9))
        }
        func us(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1e3 }
        return RequestLatency(p50Microseconds: us(50), p90Microseconds: us(90), p99Microseconds: us(99),
                              meanMicroseconds: total / Double(iterations) * 1e6)
    }

    /// The user's support as the predictor copies it: per task `f_t` `(S, H)` and `y_t` `(S)`.
    static func supportBlocks(of user: String, model: ServingModel, predictor: Predictor,
                              expected: Int) -> (features: [Tensor], labels: [Tensor]) {
        let h = model.config.networkSpec.metaWidth, kk = model.config.networkSpec.taskCount
        let capacity = model.support.config.capacity
        var features = [Float](repeating: 0, count: capacity * kk * h), labels = [Float](repeating: 0, count: capacity * kk)
        let s = features.withUnsafeMutableBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { l in model.support.pull(task: predictor.taskKey(user: user), features: f, labels: l) }
        }
        precondition(s == expected, "adapt-score: pulled \(s) rows, expected \(expected)")
        var supportMeta: [Tensor] = [], supportLabels: [Tensor] = []
        for t in 0..<kk {
            var block = [Float](), column = [Float]()
            for i in 0..<s {
                let start: Int = i * kk * h + t * h
                block.append(contentsOf: features[start..<(start + h)])
                column.append(labels[i * kk + t])
            }
            supportMeta.append(Tensor(shape: [s, h], scalars: block))
            supportLabels.append(Tensor(shape: [s], scalars: column))
        }
        return (supportMeta, supportLabels)
    }

    /// The candidates' meta-layer inputs `K × (C, H)`: the bottom on the request's candidates,
    /// encoded as the predictor does.
    static func candidateMetaInputs(_ request: ScoreRequest, user: String, model: ServingModel) throws -> [Tensor] {
        var batch = model.encoder.makeBatch(reservingRows: request.candidates.count)
        var scratch = FeatureEncoder.Scratch()
        for candidate in request.candidates {
            var row: [String: String] = [model.config.taskKey: user]
            for (key, value) in candidate { row[key] = Self.text(value) }
            try model.encoder.encode(row: row, into: &batch, scratch: &scratch)
        }
        var network = NetworkWorkspace()
        MultiTaskNetwork.forwardBottom(model.parameters, spec: model.config.networkSpec, layout: model.config.inputLayout,
                                       batch: batch, table: model.embeddings, createEmbeddings: false, workspace: &network)
        return network.meta
    }

    /// Candidate value → the encoder's text (numbers: 15 significant digits, as `ColumnPlan`).
    static func text(_ value: FeatureValue) -> String {
        switch value {
        case .string(let s): s
        case .integer(let i): String(i)
        case .number(let d): String(format: "%.15g", d)
        case .bool(let b): b ? "1" : "0"
        case .null: ""
        case .list(let items): items.map(text).joined(separator: "|")
        }
    }

    /// Writes `support.t.f` (S, H), `support.t.y` (S), `candidates.t.f` (C, H), `scores` (C, K) from
    /// `Predictor.score`, `adapted_scores` (C, K) from the timed path, `base_scores` (C, K) of the same
    /// request with `finetune: false`, and the ``PeerState`` of the request's user; metadata: steps, α,
    /// kinds, `request` (the `POST /v1/score` body, candidates as columns) and the peer state's.
    func dump(to path: String, supportMeta: [Tensor], supportLabels: [Tensor], candidateMeta: [Tensor],
              scores: (served: [Float], adapted: [Float], base: [Float]), learningRate: Float, tasks: [TaskSpec],
              activation: Activation, state: (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]),
              body: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for t in tasks.indices {
            tensors.append(("support.\(t).f", supportMeta[t]))
            tensors.append(("support.\(t).y", supportLabels[t]))
            tensors.append(("candidates.\(t).f", candidateMeta[t]))
        }
        tensors.append(("scores", Tensor(shape: [candidates, tasks.count], scalars: scores.served)))
        tensors.append(("adapted_scores", Tensor(shape: [candidates, tasks.count], scalars: scores.adapted)))
        tensors.append(("base_scores", Tensor(shape: [candidates, tasks.count], scalars: scores.base)))
        tensors += state.tensors
        let metadata = state.metadata.merging([
            "support": String(support), "steps": String(steps), "candidates": String(candidates),
            "learning_rate": String(learningRate), "activation": activation.rawValue,
            "kinds": tasks.map { $0.kind == .binary ? "binary" : "regression" }.joined(separator: ","),
            "request": body,
        ]) { _, dumped in dumped }
        try SafeTensors.encode(tensors, metadata: metadata).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

struct BenchAdaptScoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "bench serving --adapt-score: " + description }
}
