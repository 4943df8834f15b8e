import Benchmark
import Serving

/// A whole fine-tuned scoring request at the reference config (as `metarec-bench serving`'s
/// reference cell): synthetic model (towers 64 → 64 → 1, K 2 tasks), 10 000 warm items, users with
/// S = 64 support rows recorded through the events path, k = 3 steps, C = 200 candidates.
final class PredictorProblem {
    let predictor: Predictor
    /// 8 users' requests, cycled so one user's rows never stay hot in cache.
    let requests: [ScoreRequest]
    var result: ScoreResult
    var next = 0

    static let support = 64, steps = 3, candidates = 200

    init() throws {
        let model = try ServingModel.synthetic()
        model.warmEmbeddings(items: 10_000, users: 0)
        predictor = Predictor(model: model)
        var traffic = SyntheticTraffic(items: 10_000, seed: 3)
        let tasks = model.config.taskSpecs.count
        for u in 0..<8 {
            _ = try predictor.record(events: traffic.events(user: "s64-u\(u)", count: Self.support, tasks: tasks))
        }
        requests = (0..<8).map { u in
            var r = traffic.request(user: "s64-u\(u)", candidates: Self.candidates)
            r.steps = Self.steps
            return r
        }
        result = ScoreResult(modelVersion: model.modelVersion, taskNames: predictor.taskNames)
    }

    func run() {
        do throws(ServingError) {
            try predictor.score(requests[next], into: &result)
        } catch {
            fatalError("Predictor.score failed: \(error)")
        }
        next = next == requests.count - 1 ? 0 : next + 1
    }

    /// Traps unless every request is fine-tuned on exactly S rows and scores are probabilities.
    func validate() {
        for _ in requests {
            run()
            precondition(result.finetuned && result.supportRows == Self.support,
                         "Predictor: request not fine-tuned on \(Self.support) rows (fallback \(String(describing: result.fallback)))")
            precondition(result.scores.count == Self.candidates * predictor.taskNames.count
                         && result.scores.allSatisfy { $0 >= 0 && $0 <= 1 }, "Predictor: scores are not C × K probabilities")
        }
    }
}

func predictorBenchmark() {
    let problem = Fixture<PredictorProblem>()
    Benchmark(
        "Predictor.score-reference",
        configuration: .init(setup: {
            let p = try PredictorProblem()
            p.validate()
            for _ in 0..<50 { p.run() } // workspace pool and result buffers sized
            problem.value = p
        }, teardown: { problem.value = nil })
    ) { benchmark in
        let p = problem.unwrapped
        for _ in benchmark.scaledIterations { p.run() }
        blackHole(p.result.scores[0])
    }
}
