import CMallocCounter
import Foundation
import Histogram
import ModelDescription
import ModelMath
import Serving
import TensorCore

/// One cell of the single-request grid.
struct ServingCell: Codable {
    var support: Int
    var steps: Int
    var candidates: Int
    var iterations: Int
    var p50Microseconds: Double
    var p90Microseconds: Double
    var p99Microseconds: Double
    var p999Microseconds: Double
    var meanCPUMicroseconds: Double
    var megaflops: Double
    /// FLOPs ÷ measured single-core peak, µs.
    var floorMicroseconds: Double
    /// p50 ÷ floor.
    var p50OverFloor: Double
    var percentOfPeakAtP50: Double
    var allocationsPerRequest: Double
    /// Phase split of the mean (µs): encode, bottom, fine-tune + score.
    var encodeMicroseconds: Double
    var bottomMicroseconds: Double
    var finetuneMicroseconds: Double
}

/// One auto-batched throughput run.
struct BatchedRun: Codable {
    var workers: Int
    var clients: Int
    var support: Int
    var steps: Int
    var candidates: Int
    var requests: Int
    var requestsPerSecond: Double
    var meanBatchSize: Double
    var p50Microseconds: Double
    var p99Microseconds: Double
    var p999Microseconds: Double
    var scoresMatchAlone: Bool
}

struct ServingBenchReport: Codable {
    var command = ""
    var candidateForm: CandidateForm
    var peakGFLOPS: Double
    var simd: String
    var shape: String
    var cells: [ServingCell]
    var batched: [BatchedRun]
}

struct BenchServingRun {
    let iterations: Int
    let batchedRequests: Int
    let clients: Int
    let referenceOnly: Bool
    let candidateForm: CandidateForm

    static let supports = [16, 64, 256]
    static let stepsGrid = [1, 3, 5]
    static let candidatesGrid = [100, 200, 1000]
    static let reference = (support: 64, steps: 3, candidates: 200)

    func run() async throws -> ServingBenchReport {
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
        let mallocBefore = mr_malloc_count_thread()
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
        let mallocs = mr_malloc_count_thread() - mallocBefore
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
