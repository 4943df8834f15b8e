import ArgumentParser
import CMallocCounter
import Foundation
import Histogram
import ModelDescription
import ModelMath
import Serving
import ServingBench
import TensorCore

extension CandidateForm: ExpressibleByArgument {}

/// `metarec-bench serving`: in-process latency of per-user fine-tuned scoring over a grid of
/// support size S, inner steps k and candidates C (single requests), auto-batched throughput
/// with 1 and 2 worker threads, FLOPs per request against the single-core peak measured in
/// the same run (``BenchServingRun``), and heap allocations per request after warm-up (this
/// binary links the counting malloc of `CMallocCounter`).
///
/// Model: the reference shape (``ServingModel/SyntheticShape``: D = 50, 4 experts 50 → 64,
/// towers 64 → 64 → 1, 2 tasks) with seeded random weights; each user's support rows come
/// through the events path (``Predictor/record(events:)``), as in production.
struct BenchServing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serving",
        abstract: "Per-request fine-tuned scoring: latency grid, auto-batched throughput, FLOP floor, allocations.")

    @Option(help: "Output format: table or json.")
    var format: OutputFormat = .table

    @Option(help: "Timed single requests per grid cell (the reference cell gets 5×).")
    var iterations = 300

    @Option(help: "Requests per auto-batched throughput run.")
    var batchedRequests = 3000

    @Option(help: "Concurrent in-process clients of the auto-batcher.")
    var clients = 16

    @Option(help: "How requests hold their candidates: columns (what the HTTP server's JSON reader builds from either wire form) or rows (a dictionary per candidate, the library's row form).")
    var candidatesAs: CandidateForm = .columns

    @Flag(help: "Only the reference cell (S = 64, k = 3, C = 200) and its batched runs.")
    var referenceOnly = false

    @Option(help: "Write the reference model (support rows for users u0 … u99, S = 64) as a model directory and exit (for metarec serve + wrk).")
    var writeModel: String?

    @Option(help: "With --write-model: also write the users' support rows and the embedding vocabulary as safetensors (for the Python HTTP peer in Benchmarks/peers).")
    var peerState: String?

    @Option(help: "Time only adapt + score from given f for one cell \"S,k,C\" (median over --iterations, one thread) and exit; the inputs are one real request's, checked against Predictor.score.")
    var adaptScore: String?

    @Option(help: "With --adapt-score: write that request's inputs (support f, labels, candidate f) and scores as safetensors (for Benchmarks/peers).")
    var dumpRequest: String?

    func validate() throws {
        guard iterations >= 10, batchedRequests >= 10, clients >= 1 else {
            throw ValidationError("--iterations and --batched-requests must be >= 10, --clients >= 1")
        }
        if let adaptScore, AdaptScoreRun.cell(adaptScore) == nil {
            throw ValidationError("--adapt-score must be \"S,k,C\" with 1 <= S <= 256, 1 <= k <= \(ServingSettings.maxSteps), 1 <= C <= 1000")
        }
        if dumpRequest != nil, adaptScore == nil { throw ValidationError("--dump-request needs --adapt-score") }
        if peerState != nil, writeModel == nil { throw ValidationError("--peer-state needs --write-model") }
    }

    func run() async throws {
        if let writeModel {
            let model = try ServingModel.synthetic()
            model.warmEmbeddings(items: 10_000, users: 0)
            let predictor = Predictor(model: model)
            var traffic = SyntheticTraffic(items: 10_000, seed: 3)
            for u in 0..<100 { try predictor.record(events: traffic.events(user: "u\(u)", count: 64, tasks: 2)) }
            try model.write(to: writeModel)
            if let peerState {
                let state = try PeerState.tensors(model: model, predictor: predictor, users: (0..<100).map { "u\($0)" }, items: 10_000)
                try SafeTensors.encode(state.tensors, metadata: state.metadata).write(to: URL(fileURLWithPath: peerState), options: .atomic)
            }
            print("wrote \(writeModel): model \(model.modelVersion), \(model.support.count) users with 64 support rows")
            return
        }
        if let adaptScore, let (s, k, c) = AdaptScoreRun.cell(adaptScore) {
            let cell = try AdaptScoreRun(support: s, steps: k, candidates: c, iterations: iterations, dumpPath: dumpRequest).run()
            switch format {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(cell), as: UTF8.self))
            case .table:
                print(String(format: "adapt+score S %d k %d C %d (%d iterations, µs): p50 %.1f p90 %.1f p99 %.1f mean %.1f | serving finetune+score phase %.1f | max |Δ| to Predictor.score %.2g",
                             s, k, c, cell.iterations, cell.p50Microseconds, cell.p90Microseconds, cell.p99Microseconds,
                             cell.meanMicroseconds, cell.servingFinetuneMicroseconds, cell.maxDifferenceToServed))
            }
            return
        }
        var report = try await BenchServingRun(iterations: iterations, batchedRequests: batchedRequests,
                                               clients: clients, referenceOnly: referenceOnly,
                                               candidateForm: candidatesAs,
                                               threadAllocations: { mr_malloc_count_thread() }).run()
        report.command = "metarec-bench serving" + CommandLine.arguments.dropFirst(2).map { " " + $0 }.joined()
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .table:
            print(report.table)
        }
    }
}
