import Foundation
import Histogram
import ModelDescription
import ModelMath
import Serving
import TensorCore

/// In-process latency of per-user fine-tuned scoring over a grid of support size S, inner steps
/// k and candidates C (single requests, one thread), auto-batched throughput with 1 and 2
/// worker threads, and FLOPs per request against the single-core peak measured in the same run.
///
/// Model: the reference shape (``ServingModel/SyntheticShape``: D = 50, 4 experts 50 → 64,
/// towers 64 → 64 → 1, 2 tasks) with seeded random weights; each user's support rows come
/// through the events path (``Predictor/record(events:)``), as in production.
///
/// Heap allocations per request are counted only when the caller supplies a counter
/// (`metarec-bench` links a counting malloc; `metarec demo` does not, and reports none).
/// Threading: single requests run on the calling thread; the batched runs use the
/// auto-batcher's worker threads and `clients` concurrent tasks.
package struct BenchServingRun {
    let iterations: Int
    let batchedRequests: Int
    let clients: Int
    let referenceOnly: Bool
    let candidateForm: CandidateForm
    /// Heap allocations made so far by the calling thread (negative: not available), or `nil`.
    let threadAllocations: (@Sendable () -> Int64)?

    static let supports = [16, 64, 256]
    static let stepsGrid = [1, 3, 5]
    static let candidatesGrid = [100, 200, 1000]
    static let reference = (support: 64, steps: 3, candidates: 200)

    /// - Parameters:
    ///   - iterations: timed single requests per grid cell (the reference cell gets 5×).
    ///   - batchedRequests: requests per auto-batched throughput run.
    ///   - clients: concurrent in-process clients of the auto-batcher.
    ///   - referenceOnly: only the reference cell (S = 64, k = 3, C = 200) and its batched runs.
    ///   - candidateForm: how requests hold their candidates.
    ///   - threadAllocations: the calling thread's allocation count, for allocations per request.
    package init(iterations: Int, batchedRequests: Int, clients: Int, referenceOnly: Bool, candidateForm: CandidateForm,
                 threadAllocations: (@Sendable () -> Int64)? = nil) {
        precondition(iterations >= 10 && batchedRequests >= 10 && clients >= 1,
                     "BenchServingRun: iterations \(iterations), batched requests \(batchedRequests) (both >= 10), clients \(clients) (>= 1)")
        self.iterations = iterations
        self.batchedRequests = batchedRequests
        self.clients = clients
        self.referenceOnly = referenceOnly
        self.candidateForm = candidateForm
        self.threadAllocations = threadAllocations
    }

    /// Runs the grid (or the reference cell) and the batched runs.
    package func run() async throws -> ServingBenchReport {
        let shape = ServingModel.SyntheticShape()
        let model = try ServingModel.synthetic(shape)
        model.warmEmbeddings(items: 10_000, users: 0)
        var settings = ServingSettings(model.config)
        settings.maxCandidates = 1000
        let predictor = Predictor(model: model, settings: settings)
        var traffic = SyntheticTraffic(items: 10_000, seed: 3)
        // Users with exactly S support rows each, written through the events path.
        let usersPerSupport = 8
        for s in Self.supports {
            for u in 0..<usersPerSupport {
                try predictor.record(events: traffic.events(user: "s\(s)-u\(u)", count: s, tasks: shape.taskCount))
            }
        }
        let peak = MachinePeak.measureSingleCoreGFLOPS()
        var cells: [ServingCell] = []
        let grid: [(Int, Int, Int)] = referenceOnly
            ? [(Self.reference.support, Self.reference.steps, Self.reference.candidates)]
            : Self.supports.flatMap { s in Self.stepsGrid.flatMap { k in Self.candidatesGrid.map { c in (s, k, c) } } }
        for (s, k, c) in grid {
            let isReference = (s, k, c) == Self.reference
            cells.append(try measureCell(predictor: predictor, shape: shape, traffic: &traffic, support: s, steps: k,
                                         candidates: c, iterations: isReference ? iterations * 5 : iterations,
                                         peakGFLOPS: peak))
        }
        var batched: [BatchedRun] = []
        let batchedCandidates = referenceOnly ? [Self.reference.candidates] : Self.candidatesGrid
        for c in batchedCandidates {
            for workers in [1, 2] {
                batched.append(try await measureBatched(model: model, settings: settings, traffic: &traffic,
                                                        support: Self.reference.support, steps: Self.reference.steps,
                                                        candidates: c, workers: workers, reference: predictor))
            }
        }
        let spec = model.config.networkSpec
        return ServingBenchReport(
            candidateForm: candidateForm, peakGFLOPS: peak, simd: SIMDLevel.inUse.description,
            shape: "D \(spec.inputWidth), E \(spec.expertCount) experts \(spec.inputWidth)→\(spec.bottomWidths.map(String.init).joined(separator: "→")), "
                + "K \(spec.taskCount) towers \(spec.metaWidth)→\(spec.towerWidths.map(String.init).joined(separator: "→"))→1",
            cells: cells, batched: batched)
    }

    /// FLOPs of one request (GEMMs plus the gate mixture; elementwise ops not counted):
    ///
    /// ```
    /// bottom   C · (E · Σ_l 2·in_l·out_l  +  K · 2·D·E  +  K · 2·E·H)
    /// adapt    K · k · S · (Σ_l 2·in·out  [forward]  +  Σ_l 2·in·out  [dW]  +  Σ_{l>0} 2·in·out  [dInput])
    /// score    K · C · Σ_l 2·in·out
    /// ```
    static func flops(spec: NetworkSpec, support s: Int, steps k: Int, candidates c: Int) -> Double {
        let d = Double(spec.inputWidth), e = Double(spec.expertCount), h = Double(spec.metaWidth), kk = Double(spec.taskCount)
        let bottomWidths = [spec.inputWidth] + spec.bottomWidths
        var expert = 0.0
        for l in 0..<(bottomWidths.count - 1) { expert += 2 * Double(bottomWidths[l] * bottomWidths[l + 1]) }
        let bottom = Double(c) * (e * expert + kk * 2 * d * e + kk * 2 * e * h)
        let towerWidths = [spec.metaWidth] + spec.towerWidths + [1]
        var forward = 0.0, inputGrad = 0.0
        for l in 0..<(towerWidths.count - 1) {
            let f = 2 * Double(towerWidths[l] * towerWidths[l + 1])
            forward += f
            if l > 0 { inputGrad += f }
        }
        let adapt = kk * Double(k) * Double(s) * (2 * forward + inputGrad)
        let score = kk * Double(c) * forward
        return bottom + adapt + score
    }

    /// A synthetic request of `candidates` rows in ``candidateForm``.
    func request(traffic: inout SyntheticTraffic, user: String, candidates c: Int, steps k: Int) throws -> ScoreRequest {
        var r = traffic.request(user: user, candidates: c)
        r.steps = k
        if candidateForm == .columns {
            r.columns = try CandidateColumns(rows: r.candidates)
            r.candidates = []
        }
        return r
    }

    func measureCell(
        predictor: Predictor, shape: ServingModel.SyntheticShape, traffic: inout SyntheticTraffic,
        support s: Int, steps k: Int, candidates c: Int, iterations: Int, peakGFLOPS: Double
    ) throws -> ServingCell {
        // 8 distinct requests (users and items) cycled, each with exactly S support rows.
        let requests = try (0..<8).map { u in try request(traffic: &traffic, user: "s\(s)-u\(u)", candidates: c, steps: k) }
        var result = ScoreResult(modelVersion: predictor.model.modelVersion, taskNames: predictor.taskNames)
        for r in requests {
            try predictor.score(r, into: &result)
            precondition(result.finetuned && result.supportRows == s, "bench: request not fine-tuned on \(s) rows")
        }
        for i in 0..<(iterations / 5 + 20) { try predictor.score(requests[i % requests.count], into: &result) }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var cpu = 0.0
        let mallocBefore = threadAllocations?() ?? -1
        for i in 0..<iterations {
            let r = requests[i % requests.count]
            var failure: ServingError?
            var wall = 0.0
            cpu += MachinePeak.seconds(.threadCPUTime) {
                wall = MachinePeak.seconds(.wallClock) {
                    do throws(ServingError) { try predictor.score(r, into: &result) } catch { failure = error }
                }
            }
            if let failure { throw failure }
            _ = histogram.record(UInt64(wall * 1e9))
        }
        let mallocs = mallocBefore < 0 ? -1 : (threadAllocations?() ?? -1) - mallocBefore
        let phases = try predictor.phaseTimes(requests[0], repetitions: max(20, iterations / 5))
        let flops = Self.flops(spec: predictor.model.config.networkSpec, support: s, steps: k, candidates: c)
        let floor = flops / (peakGFLOPS * 1e9) * 1e6
        func us(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1e3 }
        return ServingCell(
            support: s, steps: k, candidates: c, iterations: iterations,
            p50Microseconds: us(50), p90Microseconds: us(90), p99Microseconds: us(99), p999Microseconds: us(99.9),
            meanCPUMicroseconds: cpu / Double(iterations) * 1e6, megaflops: flops / 1e6, floorMicroseconds: floor,
            p50OverFloor: us(50) / floor, percentOfPeakAtP50: 100 * floor / us(50),
            allocationsPerRequest: mallocs < 0 ? -1 : Double(mallocs) / Double(iterations),
            encodeMicroseconds: phases.encode * 1e6, bottomMicroseconds: phases.bottom * 1e6,
            finetuneMicroseconds: phases.finetune * 1e6)
    }

    func measureBatched(
        model: ServingModel, settings: ServingSettings, traffic: inout SyntheticTraffic, support s: Int, steps k: Int,
        candidates c: Int, workers: Int, reference: Predictor
    ) async throws -> BatchedRun {
        let predictor = Predictor(model: model, settings: settings)
        let serving = model.config.serving
        let batcher = AutoBatcher(predictor: predictor, configuration: .init(
            maxRequests: serving.batchMaxRequests, maxWait: .microseconds(serving.batchMaxWaitMicroseconds), workers: workers))
        batcher.start()
        let requests = try (0..<8).map { u in try request(traffic: &traffic, user: "s\(s)-u\(u)", candidates: c, steps: k) }
        // Merged scores must equal the scores served alone before anything is timed.
        var matches = true
        let alone = try requests.map { try reference.score($0) }
        let merged = try await withThrowingTaskGroup(of: (Int, ScoreResult).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, try await batcher.score(r)) } }
            var out = [ScoreResult?](repeating: nil, count: requests.count)
            for try await (i, result) in group { out[i] = result }
            return out.map { $0! }
        }
        for (a, m) in zip(alone, merged) {
            for (x, y) in zip(a.scores, m.scores) where abs(x - y) > 1e-5 * max(abs(x), abs(y), 1e-6) { matches = false }
        }
        let total = batchedRequests
        let clientCount = clients
        let batchesBefore = predictor.metrics.batches
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for client in 0..<clientCount {
                group.addTask {
                    var out: [UInt64] = []
                    var i = client
                    while i < total {
                        let t0 = ContinuousClock.now
                        _ = try await batcher.score(requests[i % requests.count])
                        let (sec, atto) = (ContinuousClock.now - t0).components
                        out.append(UInt64(sec) * 1_000_000_000 + UInt64(atto / 1_000_000_000))
                        i += clientCount
                    }
                    return out
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        let (sec, atto) = (ContinuousClock.now - start).components
        let seconds = Double(sec) + Double(atto) * 1e-18
        await batcher.shutdown()
        let batchesAfter = predictor.metrics.batches
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for l in latencies { _ = histogram.record(l) }
        func us(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1e3 }
        let batches = batchesAfter.batches - batchesBefore.batches
        return BatchedRun(
            workers: workers, clients: clientCount, support: s, steps: k, candidates: c, requests: total,
            requestsPerSecond: Double(total) / seconds,
            meanBatchSize: batches == 0 ? 0 : Double(batchesAfter.requests - batchesBefore.requests) / Double(batches),
            p50Microseconds: us(50), p99Microseconds: us(99), p999Microseconds: us(99.9), scoresMatchAlone: matches)
    }
}
