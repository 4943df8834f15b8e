import ArgumentParser
import Dispatch
import Foundation
import ParamServer

/// `metarec-bench store`: parameter-server throughput, sweep cost and memory per entry.
///
/// ```
/// ns/op  = wall time of a sample / ops done by one thread     median, p10–p90 over samples
/// ops/s  = ops done by all threads / wall time                 (median sample)
/// ```
///
/// Every workload is checked against the values it must return before it is timed. Sweep cost
/// is reported with the entries it visited: it must follow the expired count, not the live one.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Parameter-server pull/push/append ops/s (1 and 2 threads), sweep cost, bytes per entry.")

    @Option(help: "Output format.") var format: OutputFormat = .table
    @Option(help: "Timed samples per workload (median and p10–p90 are reported).") var samples: Int = 11
    @Option(help: "Embedding rows in the table under test.") var embeddingRows: Int = 1_000_000
    @Option(help: "Sweeps per (live, expired) case; each on a freshly filled table (median reported).") var sweepRepeats: Int = 5
    @Option(help: "Sweep cases as comma-separated live:expired row counts (default: live 0, rows/10 and rows, each with 10000 and 100000 expired).")
    var sweepCases: String?
    @Option(help: "Sections to run, comma-separated: support, embedding, sweep, memory.") var only: String = "support,embedding,sweep,memory"
    @Option(help: "How the support workloads' store keeps its rows' features: f32 or bf16 (serving.support_precision).")
    var supportPrecision: String = "f32"

    func run() async throws {
        guard samples >= 1, sweepRepeats >= 1, embeddingRows >= 10_000 else {
            throw ValidationError("--samples and --sweep-repeats must be ≥ 1, --embedding-rows ≥ 10000")
        }
        let sections = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let known: Set<String> = ["support", "embedding", "sweep", "memory"]
        guard !sections.isEmpty, sections.isSubset(of: known) else { throw ValidationError("--only takes a comma-separated subset of support, embedding, sweep, memory") }
        var report = StoreBenchReport()
        if sections.contains("support") { try benchSupport(&report) }
        if sections.contains("embedding") { try benchEmbedding(&report) }
        if sections.contains("sweep") { try benchSweep(&report) }
        if sections.contains("memory") { try benchMemory(&report) }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .table: print(report.table())
        }
    }

    /// Times `body(thread, call)` run `calls` times on each of `threads` threads, `samples` times.
    ///
    /// Two clocks: wall time gives the aggregate ops/s; each thread's CPU time
    /// (`CLOCK_THREAD_CPUTIME_ID`) gives ns/op without the time the thread spent descheduled,
    /// which matters on a shared machine.
    func measure(_ name: String, threads: Int, calls: Int, opsPerCall: Int, _ body: @Sendable (Int, Int) -> Void) -> ThroughputRow {
        for t in 0..<threads { for c in 0..<min(calls, 64) { body(t, c) } }   // warm-up
        var wallPerOp: [Double] = [], cpuPerOp: [Double] = [], rates: [Double] = []
        let cpu = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
        defer { cpu.deallocate() }
        nonisolated(unsafe) let cpuSlots = cpu
        for _ in 0..<samples {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let begin = threadCPUNanoseconds()
                for c in 0..<calls { body(t, c) }
                cpuSlots[t] = threadCPUNanoseconds() - begin
            }
            let ns = Double(DispatchTime.now().uptimeNanoseconds - start)
            wallPerOp.append(ns / Double(calls * opsPerCall))
            cpuPerOp.append(cpu.reduce(0, +) / Double(threads) / Double(calls * opsPerCall))
            rates.append(Double(threads * calls * opsPerCall) / ns * 1e9)
        }
        return ThroughputRow(workload: name, threads: threads, nsPerOp: Quantiles(wallPerOp), cpuNsPerOp: Quantiles(cpuPerOp),
                             opsPerSecond: Quantiles(rates).median)
    }

    func benchSupport(_ report: inout StoreBenchReport) throws {
        // The serving case: K = 2 tasks × H = 64 → W = 128 floats, L = 2 labels, S_max = 64.
        let w = 128, l = 2, s = 64, tasks = 4_096
        guard let precision = SupportPrecision(rawValue: supportPrecision) else {
            throw ValidationError("--support-precision takes f32 or bf16, got \(supportPrecision)")
        }
        let store = try SupportStore(config: .init(rowWidth: w, labelWidth: l, capacity: s, precision: precision))
        var features = [Float](repeating: 0, count: w), labels: [Float] = [0, 0]
        for t in 0..<tasks {
            for r in 0..<s {
                features[0] = Float(t); features[w - 1] = Float(r); labels[0] = Float(r)
                features.withUnsafeBufferPointer { f in labels.withUnsafeBufferPointer { store.append(task: UInt64(t), features: f, labels: $0, timestamp: .zero) } }
            }
        }
        // Validate: task 7 comes back as 64 rows oldest first.
        var fOut = [Float](repeating: 0, count: s * w), lOut = [Float](repeating: 0, count: s * l)
        let n = fOut.withUnsafeMutableBufferPointer { fb in lOut.withUnsafeMutableBufferPointer { store.pull(task: 7, features: fb, labels: $0) } }
        guard n == s, fOut[0] == 7, fOut[(s - 1) * w + w - 1] == Float(s - 1), lOut[(s - 1) * l] == Float(s - 1) else {
            throw ValidationError("support pull returned wrong rows (S = \(n))")
        }
        let buffers = ScratchBuffers(threads: 2, floats: s * w, labels: s * l)
        let order = (0..<tasks).map { UInt64(($0 &* 2_654_435_761) % tasks) }
        for threads in [1, 2] {
            report.throughput.append(measure("support pull, 64 rows × 128 f, hot task", threads: threads, calls: 20_000, opsPerCall: 1) { t, _ in
                _ = buffers.pull(store, task: UInt64(t), thread: t)
            })
            report.throughput.append(measure("support pull, 64 rows × 128 f, 4096 tasks", threads: threads, calls: 20_000, opsPerCall: 1) { t, c in
                _ = buffers.pull(store, task: order[(c &* 2 &+ t) % tasks], thread: t)
            })
            let row = [Float](repeating: 1, count: w)
            report.throughput.append(measure("support append, 128 f + 2 labels", threads: threads, calls: 50_000, opsPerCall: 1) { t, c in
                row.withUnsafeBufferPointer { f in
                    row.withUnsafeBufferPointer { store.append(task: UInt64((c &* 2 &+ t) % tasks), features: f, labels: UnsafeBufferPointer(rebasing: $0[0..<l]), timestamp: .zero) }
                }
            })
        }
    }

    func benchEmbedding(_ report: inout StoreBenchReport) throws {
        let d = 16, batch = 1_024, n = embeddingRows
        let table = try EmbeddingStore(config: .init(dimension: d, initializer: .uniform(bound: 0.01, seed: 1),
                                                     expiry: .timeToLive(.seconds(86_400)), optimizer: .adagrad(learningRate: 0.05, initialAccumulator: 0.1, epsilon: 1e-8)))
        let keys = (0..<n).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        keys.withUnsafeBufferPointer { k in
            var rows = [Float](repeating: 0, count: n * d)
            rows.withUnsafeMutableBufferPointer { table.pull(keys: k, into: $0, create: true) }
        }
        guard table.rowCount == n else { throw ValidationError("embedding table holds \(table.rowCount) rows, expected \(n)") }
        // Batches of unique random keys: all rows (cold, memory-bound) and a 16 K hot set.
        var state: UInt64 = 42
        func batchOf(_ range: Int) -> [UInt64] {
            var seen = Set<Int>(), out: [UInt64] = []
            while out.count < batch {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let i = Int((state >> 33) % UInt64(range))
                if seen.insert(i).inserted { out.append(keys[i]) }
            }
            return out
        }
        let cold = (0..<64).map { _ in batchOf(n) }, hot = (0..<64).map { _ in batchOf(16_384) }
        let reference = try EmbeddingStore(config: .init(dimension: d, initializer: .uniform(bound: 0.01, seed: 1)))
        let a = pullBatch(table, cold[0], create: false), b = pullBatch(reference, cold[0], create: true)
        guard a == b else { throw ValidationError("embedding pull does not match the deterministic initialiser") }
        let scratch = ScratchBuffers(threads: 2, floats: batch * d, labels: 0)
        let gradient = [Float](repeating: 1e-4, count: batch * d)
        // The same 1 M keys in a plain table (sgd, no expiry: 72-byte records, no touch writes).
        let plain = try EmbeddingStore(config: .init(dimension: d, initializer: .uniform(bound: 0.01, seed: 1)))
        for chunk in stride(from: 0, to: n, by: 65_536) { _ = pullBatch(plain, Array(keys[chunk..<min(n, chunk + 65_536)]), create: true) }
        report.throughput.append(measure("embedding pull d=16, 1 M random, sgd no TTL", threads: 1, calls: 400, opsPerCall: batch) { t, c in
            scratch.pullEmbedding(plain, keys: cold[(c &* 2 &+ t) % cold.count], thread: t)
        })
        for threads in [1, 2] {
            for (label, batches) in [("1 M rows, random", cold), ("16 K hot rows", hot)] {
                report.throughput.append(measure("embedding pull d=16, \(label)", threads: threads, calls: 400, opsPerCall: batch) { t, c in
                    scratch.pullEmbedding(table, keys: batches[(c &* 2 &+ t) % batches.count], thread: t)
                })
                report.throughput.append(measure("embedding push d=16 adagrad, \(label)", threads: threads, calls: 400, opsPerCall: batch) { t, c in
                    batches[(c &* 2 &+ t) % batches.count].withUnsafeBufferPointer { k in gradient.withUnsafeBufferPointer { table.push(keys: k, gradients: $0) } }
                })
            }
        }
    }

    func pullBatch(_ table: EmbeddingStore, _ keys: [UInt64], create: Bool) -> [Float] {
        var rows = [Float](repeating: 0, count: keys.count * table.dimension)
        keys.withUnsafeBufferPointer { k in rows.withUnsafeMutableBufferPointer { table.pull(keys: k, into: $0, create: create) } }
        return rows
    }

    /// The (live, expired) pairs of `--sweep-cases`, or the default grid.
    func parsedSweepCases() throws -> [(live: Int, expired: Int)] {
        guard let text = sweepCases else {
            return [10_000, 100_000].flatMap { e in [0, embeddingRows / 10, embeddingRows].map { (live: $0, expired: e) } }
        }
        return try text.split(separator: ",").map { item in
            let parts = item.split(separator: ":").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let live = parts[0], let expired = parts[1], live >= 0, expired >= 1 else {
                throw ValidationError("--sweep-cases: '\(item)' is not live:expired with live ≥ 0 and expired ≥ 1")
            }
            return (live, expired)
        }
    }

    /// Sweep cost against live and expired rows: `--sweep-repeats` sweeps per case, each on a freshly
    /// filled table, median thread CPU time (and wall time) of the `sweep()` call alone.
    func benchSweep(_ report: inout StoreBenchReport) throws {
        for (live, expired) in try parsedSweepCases() {
            var cpu: [Double] = [], wall: [Double] = [], visited = 0
            for _ in 0..<sweepRepeats {
                let clock = ManualClock(start: .seconds(1_700_000_000))
                let table = try EmbeddingStore(config: .init(dimension: 16, expiry: .timeToLive(.seconds(100))), clock: clock)
                _ = pullBatch(table, (0..<expired).map { UInt64($0) | 1 << 40 }, create: true)
                clock.advance(by: .seconds(60))
                for chunk in stride(from: 0, to: live, by: 65_536) {
                    _ = pullBatch(table, (chunk..<min(live, chunk + 65_536)).map { UInt64($0) }, create: true)
                }
                clock.advance(by: .seconds(60))
                let start = DispatchTime.now().uptimeNanoseconds, begin = threadCPUNanoseconds()
                let sweep = table.sweep()
                cpu.append(threadCPUNanoseconds() - begin)
                wall.append(Double(DispatchTime.now().uptimeNanoseconds - start))
                guard sweep.entriesReclaimed == expired, table.rowCount == live else {
                    throw ValidationError("sweep reclaimed \(sweep.entriesReclaimed) of \(expired) expired rows")
                }
                visited = sweep.entriesVisited
            }
            let c = Quantiles(cpu).median, w = Quantiles(wall).median
            report.sweeps.append(SweepRow(store: "embedding d=16", live: live, expired: expired, milliseconds: w / 1e6,
                                          cpuMilliseconds: c / 1e6, entriesVisited: visited, nsPerExpired: c / Double(expired)))
        }
        for (live, expired) in [(0, 20_000), (200_000, 20_000)] {
            let clock = ManualClock(start: .seconds(1_700_000_000))
            let store = try SupportStore(config: .init(rowWidth: 16, labelWidth: 1, capacity: 4, expiry: .timeToLive(.seconds(100))), clock: clock)
            let f = [Float](repeating: 1, count: 16), l: [Float] = [1]
            func fill(_ range: Range<Int>) {
                f.withUnsafeBufferPointer { fb in l.withUnsafeBufferPointer { lb in for t in range { store.append(task: UInt64(t), features: fb, labels: lb, timestamp: .zero) } } }
            }
            fill(0..<expired)
            clock.advance(by: .seconds(60))
            fill(1_000_000..<(1_000_000 + live))
            clock.advance(by: .seconds(60))
            let start = DispatchTime.now().uptimeNanoseconds, begin = threadCPUNanoseconds()
            let sweep = store.sweep()
            let c = threadCPUNanoseconds() - begin
            let ns = Double(DispatchTime.now().uptimeNanoseconds - start)
            guard sweep.entriesReclaimed == expired, store.count == live else { throw ValidationError("support sweep reclaimed \(sweep.entriesReclaimed) of \(expired)") }
            report.sweeps.append(SweepRow(store: "support W=16 S=4", live: live, expired: expired, milliseconds: ns / 1e6,
                                          cpuMilliseconds: c / 1e6, entriesVisited: sweep.entriesVisited, nsPerExpired: c / Double(expired)))
        }
    }

    func benchMemory(_ report: inout StoreBenchReport) throws {
        let n = embeddingRows
        let keys = (0..<n).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        let variants: [(String, Expiry, RowOptimizer)] = [
            ("sgd, no expiry", .none, .sgd(learningRate: 0.1)),
            ("sgd, TTL", .timeToLive(.seconds(86_400)), .sgd(learningRate: 0.1)),
            ("adagrad, TTL", .timeToLive(.seconds(86_400)), .adagrad(learningRate: 0.1, initialAccumulator: 0.1, epsilon: 1e-8)),
            ("adam, TTL", .timeToLive(.seconds(86_400)), .adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)),
        ]
        for (label, expiry, optimizer) in variants {
            let table = try EmbeddingStore(config: .init(dimension: 16, expiry: expiry, optimizer: optimizer))
            for chunk in stride(from: 0, to: n, by: 65_536) {
                _ = pullBatch(table, Array(keys[chunk..<min(n, chunk + 65_536)]), create: true)
            }
            let s = table.statistics
            report.memory.append(MemoryRow(
                table: "\(n) rows d=16, \(label)", rows: s.rows, rawBytesPerRow: Double(s.rowBytes) / Double(s.rows),
                overheadBytesPerRow: Double(s.overheadBytes) / Double(s.rows), overheadPercent: s.overheadRatio * 100,
                optimizerStateBytesPerRow: Double(s.optimizerStateBytes) / Double(s.rows)))
        }
    }
}

/// Per-thread output buffers, allocated once so timed calls allocate nothing.
final class ScratchBuffers: @unchecked Sendable {
    let floats: [UnsafeMutableBufferPointer<Float>], labels: [UnsafeMutableBufferPointer<Float>]

    init(threads: Int, floats f: Int, labels l: Int) {
        floats = (0..<threads).map { _ in .allocate(capacity: max(f, 1)) }
        labels = (0..<threads).map { _ in .allocate(capacity: max(l, 1)) }
    }

    deinit { for b in floats + labels { b.deallocate() } }

    func pull(_ store: SupportStore, task: UInt64, thread: Int) -> Int {
        store.pull(task: task, features: floats[thread], labels: labels[thread])
    }

    func pullEmbedding(_ table: EmbeddingStore, keys: [UInt64], thread: Int) {
        keys.withUnsafeBufferPointer { table.pull(keys: $0, into: floats[thread], create: true) }
    }
}

struct Quantiles: Codable {
    var median: Double, p10: Double, p90: Double

    init(_ values: [Double]) {
        let s = values.sorted()
        func q(_ p: Double) -> Double {
            let x = p * Double(s.count - 1), lo = Int(x), hi = min(lo + 1, s.count - 1)
            return s[lo] + (s[hi] - s[lo]) * (x - Double(lo))
        }
        median = q(0.5); p10 = q(0.1); p90 = q(0.9)
    }
}

struct ThroughputRow: Codable { var workload: String, threads: Int, nsPerOp: Quantiles, cpuNsPerOp: Quantiles, opsPerSecond: Double }

func threadCPUNanoseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}
struct SweepRow: Codable { var store: String, live: Int, expired: Int, milliseconds: Double, cpuMilliseconds: Double, entriesVisited: Int, nsPerExpired: Double }
struct MemoryRow: Codable {
    var table: String, rows: Int, rawBytesPerRow: Double, overheadBytesPerRow: Double, overheadPercent: Double, optimizerStateBytesPerRow: Double
}

struct StoreBenchReport: Codable {
    var throughput: [ThroughputRow] = [], sweeps: [SweepRow] = [], memory: [MemoryRow] = []

    func table() -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        var out = "throughput (ns/op per thread, median [p10–p90] over samples: wall clock, and thread CPU time;\n"
        out += "            ops/s = all threads, wall clock, median sample)\n"
        out += pad("workload", 50) + pad("thr", 5) + pad("wall ns/op", 28) + pad("cpu ns/op", 28) + "ops/s\n"
        for r in throughput {
            out += pad(r.workload, 50) + pad("\(r.threads)", 5)
                + pad("\(f(r.nsPerOp.median)) [\(f(r.nsPerOp.p10))–\(f(r.nsPerOp.p90))]", 28)
                + pad("\(f(r.cpuNsPerOp.median)) [\(f(r.cpuNsPerOp.p10))–\(f(r.cpuNsPerOp.p90))]", 28)
                + String(format: "%.3g", r.opsPerSecond) + "\n"
        }
        out += "\nsweep cost (embedding: median of --sweep-repeats sweeps; support: one sweep; entries visited must\n"
        out += "            follow the expired count, not the live one; ns/expired = CPU time / expired rows)\n"
        out += pad("store", 20) + pad("live", 10) + pad("expired", 10) + pad("cpu ms", 10) + pad("wall ms", 10) + pad("visited", 10) + "ns/expired\n"
        for r in sweeps {
            out += pad(r.store, 20) + pad("\(r.live)", 10) + pad("\(r.expired)", 10) + pad(f(r.cpuMilliseconds, 2), 10) + pad(f(r.milliseconds, 2), 10)
                + pad("\(r.entriesVisited)", 10) + f(r.nsPerExpired) + "\n"
        }
        out += "\nmemory (bytes per row; raw floats = 64 for d = 16; optimiser state reported apart)\n"
        out += pad("table", 40) + pad("raw", 8) + pad("overhead", 10) + pad("overhead %", 12) + "optimiser state\n"
        for r in memory {
            out += pad(r.table, 40) + pad(f(r.rawBytesPerRow), 8) + pad(f(r.overheadBytesPerRow), 10) + pad(f(r.overheadPercent) + "%", 12)
                + f(r.optimizerStateBytesPerRow) + "\n"
        }
        return out
    }
}
