import ArgumentParser
import Foundation
import TensorCore

/// `metarec-bench gemm`: GFLOP/s of the hand kernel and OpenBLAS against the measured peak.
///
/// ```
/// GFLOP/s   = 2·m·n·k / seconds / 1e9                 median over samples, p10–p90 beside it
/// % peak    = median_i GFLOP/s_i / peak_i             peak_i: FMA-loop run just before sample i
/// hand/BLAS = median_i hand_i / openBLAS_i            paired samples
/// ```
///
/// Every backend is validated against the Double reference before it is timed. Each sample
/// runs the peak loop, the hand kernel and OpenBLAS back to back, so clock drift and load
/// from other processes hit all three alike; the whole-run peak (median of 9 runs) is printed.
struct BenchGEMM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the hand-written kernel and OpenBLAS, beside the measured single-core peak.")

    @Option(help: "Output format.") var format: OutputFormat = .table
    @Option(help: "Timed samples per backend and shape (median and p10–p90 are reported).")
    var samples: Int = 15
    @Option(help: "Minimum duration of one sample, in milliseconds (small shapes repeat the call).")
    var sampleMilliseconds: Double = 2
    @Option(help: "Clock for timings: cpu (thread CPU time; robust to other processes on a shared machine) or wall.")
    var clock: BenchClock = .cpu
    @Flag(help: "Also time the transposed variants (TN, NT, TT) of the serving shapes.")
    var allTransposes = false
    @Flag(help: "Instead of the report, sweep a grid of shapes (hand/OpenBLAS ratio) to derive the dispatch rule.")
    var dispatchGrid = false
    @Option(help: "With --dispatch-grid: comma-separated M values (default 1,4,16,64,256,1024).")
    var gridM: String?
    @Option(help: "With --dispatch-grid: comma-separated N values (default 1,4,8,16,32,64,128,256).")
    var gridN: String?
    @Option(help: "With --dispatch-grid: comma-separated K values (default 8,32,128,256,512).")
    var gridK: String?

    func run() async throws {
        guard samples >= 1, sampleMilliseconds > 0 else {
            throw ValidationError("--samples must be >= 1 and --sample-milliseconds > 0")
        }
        BLASRuntime.threadCount = 1
        BLASRuntime.warmUp()
        if dispatchGrid {
            print(dispatchGrid(variants: allTransposes ? [(false, false), (true, false), (false, true), (true, true)] : [(false, false)]))
            return
        }
        var cases = GEMMBenchCase.standard
        if allTransposes { cases += GEMMBenchCase.servingTransposed }
        for benchCase in cases {
            if let failure = benchCase.validate() { throw ValidationError(failure) }
        }
        let peakSamples = MachinePeak.measureSingleCoreGFLOPSSamples(timing: clock.timing)
        let peak = Stats(sorted: peakSamples)
        var rows: [GEMMBenchRow] = []
        for benchCase in cases {
            rows.append(benchCase.measure(samples: samples, minimumSeconds: sampleMilliseconds / 1000, timing: clock.timing))
        }
        let report = GEMMBenchReport(
            clock: clock.rawValue, peakGFLOPS: peak, simd: SIMDLevel.inUse.description, blasThreads: BLASRuntime.threadCount,
            samplesPerShape: samples, rows: rows)
        switch format {
        case .json: print(try report.json())
        case .table: print(report.table())
        }
    }
}

/// Which clock `bench gemm` times with.
enum BenchClock: String, ExpressibleByArgument, CaseIterable {
    case cpu, wall
    var timing: MachinePeak.Timing { self == .cpu ? .threadCPUTime : .wallClock }
}

/// Median and 10th/90th percentiles of a sample.
struct Stats: Codable {
    var median: Double, p10: Double, p90: Double, min: Double, max: Double

    init(sorted s: [Double]) {
        precondition(!s.isEmpty, "Stats: empty sample")
        func quantile(_ q: Double) -> Double {
            let x = q * Double(s.count - 1)
            let lo = Int(x.rounded(.down)), hi = Swift.min(lo + 1, s.count - 1)
            return s[lo] + (s[hi] - s[lo]) * (x - Double(lo))
        }
        median = quantile(0.5); p10 = quantile(0.1); p90 = quantile(0.9)
        min = s.first!; max = s.last!
    }
}

/// One benchmarked problem: `C(m, n) = op(A)·op(B)` with random operands.
struct GEMMBenchCase {
    var label: String, m: Int, n: Int, k: Int
    var transposeA = false, transposeB = false

    static var standard: [GEMMBenchCase] {
        [32, 64, 128, 256, 512, 1024].map { GEMMBenchCase(label: "square", m: $0, n: $0, k: $0) }
            + [16, 64, 256, 1024].map { GEMMBenchCase(label: "serving", m: $0, n: 64, k: 128) }
    }

    static var servingTransposed: [GEMMBenchCase] {
        [(true, false), (false, true), (true, true)].flatMap { ta, tb in
            [16, 64, 256, 1024].map {
                GEMMBenchCase(label: "serving", m: $0, n: 64, k: 128, transposeA: ta, transposeB: tb)
            }
        }
    }

    var variant: String { (transposeA ? "T" : "N") + (transposeB ? "T" : "N") }
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// Stored operands: A is (m, k) or (k, m); B is (k, n) or (n, k).
    func operands() -> (a: Tensor, b: Tensor) {
        var rng = SeededRandom(seed: UInt64(m * 1_000_003 + n * 1_009 + k))
        let a = Tensor.uniform(shape: transposeA ? [k, m] : [m, k], bound: 1, using: &rng)
        let b = Tensor.uniform(shape: transposeB ? [n, k] : [k, n], bound: 1, using: &rng)
        return (a, b)
    }

    /// Checks every fast backend against the Double reference on up to 48 rows of C (the
    /// first and last 24, which include the edge tiles); returns a message on failure.
    func validate() -> String? {
        let (a, b) = operands()
        let rowsChecked = Swift.min(m, 48)
        let rowIndices = m <= 48 ? Array(0..<m) : Array(0..<24) + Array((m - 24)..<m)
        // Reference rows: op(A) restricted to the checked rows, as a plain (rows, k) matrix.
        var aRows = Tensor(shape: [rowsChecked, k])
        for (r, i) in rowIndices.enumerated() {
            for p in 0..<k { aRows[r, p] = transposeA ? a[p, i] : a[i, p] }
        }
        let expected = aRows.matmul(b, transposeOther: transposeB, backend: .reference)
        for backend in [GEMM.Backend.microKernel, .openBLAS, .automatic] {
            let c = a.matmul(b, transposeSelf: transposeA, transposeOther: transposeB, backend: backend)
            for (r, i) in rowIndices.enumerated() {
                for j in 0..<n {
                    let e = expected[r, j], x = c[i, j]
                    if !(abs(x - e) <= 1e-4 + 1e-4 * abs(e)) {
                        return "bench gemm: \(backend) wrong at (\(i), \(j)) of \(variant) \(m)x\(n)x\(k): \(x) vs \(e)"
                    }
                }
            }
        }
        return nil
    }

    func measure(samples: Int, minimumSeconds: Double, timing: MachinePeak.Timing) -> GEMMBenchRow {
        let (a, b) = operands()
        var c = Tensor(shape: [m, n])
        let lda = a.columns, ldb = b.columns
        func time(_ backend: GEMM.Backend, calls: Int) -> Double {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        MachinePeak.seconds(timing) {
                            for _ in 0..<calls {
                                GEMM.compute(
                                    m: m, n: n, k: k, a: pa.baseAddress!, lda: lda, transposeA: transposeA,
                                    b: pb.baseAddress!, ldb: ldb, transposeB: transposeB,
                                    c: pc.baseAddress!, ldc: n, backend: backend)
                            }
                        }
                    }
                }
            }
        }
        // Calls per sample: enough for minimumSeconds, from the faster backend's warm-up time.
        _ = time(.microKernel, calls: 1); _ = time(.openBLAS, calls: 1)
        let once = Swift.min(time(.microKernel, calls: 1), time(.openBLAS, calls: 1))
        let calls = Swift.max(1, Int((minimumSeconds / Swift.max(once, 1e-9)).rounded(.up)))
        // Paired samples: a short peak run, the hand kernel, then OpenBLAS, back to back, so a
        // burst of load from other processes lands on all three; ratios are taken per sample.
        var hand: [Double] = [], blas: [Double] = [], localPeak: [Double] = []
        for _ in 0..<samples {
            localPeak.append(MachinePeak.measureSingleCoreGFLOPSSamples(runs: 1, iterations: 200_000, timing: timing)[0])
            hand.append(flops * Double(calls) / time(.microKernel, calls: calls) / 1e9)
            blas.append(flops * Double(calls) / time(.openBLAS, calls: calls) / 1e9)
        }
        let handStats = Stats(sorted: hand.sorted()), blasStats = Stats(sorted: blas.sorted())
        func pairedMedian(_ x: [Double], over y: [Double]) -> Double {
            Stats(sorted: zip(x, y).map { $0 / $1 }.sorted()).median
        }
        let picked = GEMM.resolvedBackend(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        return GEMMBenchRow(
            shape: label, variant: variant, m: m, n: n, k: k,
            dispatch: picked == .microKernel ? "hand" : "openblas",
            callsPerSample: calls, handGFLOPS: handStats, openBLASGFLOPS: blasStats,
            handPercentOfPeak: 100 * pairedMedian(hand, over: localPeak),
            openBLASPercentOfPeak: 100 * pairedMedian(blas, over: localPeak),
            handOverOpenBLAS: pairedMedian(hand, over: blas))
    }
}

/// One line of the report.
struct GEMMBenchRow: Codable {
    var shape: String, variant: String, m: Int, n: Int, k: Int
    var dispatch: String
    var callsPerSample: Int
    var handGFLOPS: Stats, openBLASGFLOPS: Stats
    var handPercentOfPeak: Double, openBLASPercentOfPeak: Double
    var handOverOpenBLAS: Double
}

/// The whole `bench gemm` result.
struct GEMMBenchReport: Codable {
    var clock: String
    var peakGFLOPS: Stats
    var simd: String
    var blasThreads: Int
    var samplesPerShape: Int
    var rows: [GEMMBenchRow]

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: Swift.max(0, w - s.count)) + s }
        var lines = [
            "clock: \(clock == "cpu" ? "thread CPU time (clock_gettime CLOCK_THREAD_CPUTIME_ID)" : "wall (ContinuousClock)")",
            "single-core peak (FMA loop): \(f(peakGFLOPS.median)) GFLOP/s median (p10–p90 \(f(peakGFLOPS.p10))–\(f(peakGFLOPS.p90)))"
                + ", kernels: \(simd), BLAS threads: \(blasThreads), \(samplesPerShape) samples per shape",
            "GFLOP/s: medians, p10–p90 in brackets. %pk, hand/BLAS: medians of per-sample ratios (each sample:",
            "peak loop, hand, OpenBLAS back to back). dispatch = what GEMM.Backend.automatic picks.",
            "",
        ]
        let header = ["shape", "op", "M", "N", "K", "dispatch", "hand GFLOP/s", "OpenBLAS GFLOP/s",
                      "hand %pk", "BLAS %pk", "hand/BLAS"]
        let widths = [7, 3, 5, 5, 5, 8, 21, 21, 8, 8, 9]
        lines.append(zip(header, widths).map { pad($0, $1) }.joined(separator: "  "))
        for r in rows {
            let cells = [
                r.shape, r.variant, "\(r.m)", "\(r.n)", "\(r.k)", r.dispatch,
                "\(f(r.handGFLOPS.median)) [\(f(r.handGFLOPS.p10))–\(f(r.handGFLOPS.p90))]",
                "\(f(r.openBLASGFLOPS.median)) [\(f(r.openBLASGFLOPS.p10))–\(f(r.openBLASGFLOPS.p90))]",
                f(r.handPercentOfPeak) + "%", f(r.openBLASPercentOfPeak) + "%", f(r.handOverOpenBLAS, 2) + "x",
            ]
            lines.append(zip(cells, widths).map { pad($0, $1) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
