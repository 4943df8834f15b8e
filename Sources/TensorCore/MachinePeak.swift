import CKernels

/// The single-core floating-point peak of this machine, measured rather than looked up.
///
/// ```
/// peak = flopsPerIteration · iterations / seconds       (median over runs)
/// flopsPerIteration = 12 chains · 8 lanes · 2            (AVX2/FMA)
/// ```
///
/// The loop runs 12 independent FMA chains with no memory traffic, enough to keep both FMA
/// pipes busy despite the FMA latency, so it is the ceiling any Float32 GEMM kernel on one
/// core can approach. Benchmarks report GEMM throughput as a fraction of it, measured in the
/// same run, which cancels most of the clock drift of a shared machine.
public enum MachinePeak {
    /// Median single-core GFLOP/s of the FMA-throughput loop.
    ///
    /// - Parameters:
    ///   - runs: number of timed runs (the median is returned); at least 1.
    ///   - iterations: loop iterations per run; the default takes about 5 ms at 45 GFLOP/s.
    /// - Returns: GFLOP/s (1e9 flop per second).
    /// - Complexity: `runs · iterations` loop iterations, on the calling thread.
    public static func measureSingleCoreGFLOPS(runs: Int = 9, iterations: Int = 1_200_000) -> Double {
        let sorted = measureSingleCoreGFLOPSSamples(runs: runs, iterations: iterations)
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Every run of ``measureSingleCoreGFLOPS(runs:iterations:)``, sorted ascending.
    public static func measureSingleCoreGFLOPSSamples(runs: Int = 9, iterations: Int = 1_200_000) -> [Double] {
        precondition(runs >= 1, "MachinePeak: runs must be >= 1, got \(runs)")
        precondition(iterations >= 1, "MachinePeak: iterations must be >= 1, got \(iterations)")
        let flops = Double(mr_fma_peak_flops_per_iteration()) * Double(iterations)
        var sink: Float = 0
        _ = mr_fma_peak_loop(iterations / 10 + 1)  // wake the core up to its running clock
        var samples: [Double] = []
        samples.reserveCapacity(runs)
        let clock = ContinuousClock()
        for _ in 0..<runs {
            let start = clock.now
            sink += mr_fma_peak_loop(iterations)
            let seconds = (clock.now - start).peakSeconds
            samples.append(flops / seconds / 1e9)
        }
        precondition(sink.isFinite, "MachinePeak: FMA loop produced \(sink)")
        return samples.sorted()
    }

    /// Whether the hand GEMM kernel and the peak loop use AVX2/FMA on this CPU.
    public static var usesAVX2FMA: Bool { mr_sgemm_uses_avx2() != 0 }
}

extension Duration {
    /// This duration in seconds, as a Double (file-private: other modules may define their own).
    fileprivate var peakSeconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
