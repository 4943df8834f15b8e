import CKernels

/// The single-core floating-point peak of this machine, measured rather than looked up.
///
/// ```
/// peak = flopsPerIteration · iterations / seconds       (median over runs)
/// flopsPerIteration = 12 chains · lanes · 2        (16 lanes AVX-512, 8 AVX2/FMA, 1 scalar)
/// ```
///
/// The loop runs 12 independent FMA chains with no memory traffic, enough to keep both FMA pipes
/// busy despite the FMA latency, on the widest vectors the kernels use (``SIMDLevel/inUse``), so
/// it is the ceiling any Float32 GEMM kernel on one core can approach. Benchmarks report GEMM
/// throughput as a fraction of it, measured in the same run, which cancels most of the clock
/// drift of a shared machine.
public enum MachinePeak {
    /// What a benchmark's seconds are.
    public enum Timing: String, Sendable, CaseIterable {
        /// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): time the thread was
        /// descheduled does not count, so other processes on a shared machine do not show up
        /// as a slower kernel.
        case threadCPUTime
        /// Wall-clock time (`ContinuousClock`).
        case wallClock
    }

    /// Runs `body` and returns the seconds it took under `timing`.
    public static func seconds(_ timing: Timing, of body: () -> Void) -> Double {
        switch timing {
        case .threadCPUTime:
            let start = mr_thread_cpu_seconds()
            body()
            return mr_thread_cpu_seconds() - start
        case .wallClock:
            let clock = ContinuousClock()
            let start = clock.now
            body()
            let (s, attoseconds) = (clock.now - start).components
            return Double(s) + Double(attoseconds) * 1e-18
        }
    }

    /// Median single-core GFLOP/s of the FMA-throughput loop.
    ///
    /// - Parameters:
    ///   - runs: number of timed runs (the median is returned); at least 1.
    ///   - iterations: loop iterations per run; the default runs a few milliseconds, long enough for a stable median.
    ///   - timing: thread CPU time (default; robust to other load on the machine) or wall clock.
    /// - Returns: GFLOP/s (1e9 flop per second).
    /// - Complexity: `runs · iterations` loop iterations, on the calling thread.
    public static func measureSingleCoreGFLOPS(
        runs: Int = 9, iterations: Int = 1_200_000, timing: Timing = .threadCPUTime
    ) -> Double {
        let sorted = measureSingleCoreGFLOPSSamples(runs: runs, iterations: iterations, timing: timing)
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Every run of ``measureSingleCoreGFLOPS(runs:iterations:)``, sorted ascending.
    public static func measureSingleCoreGFLOPSSamples(
        runs: Int = 9, iterations: Int = 1_200_000, timing: Timing = .threadCPUTime
    ) -> [Double] {
        precondition(runs >= 1, "MachinePeak: runs must be >= 1, got \(runs)")
        precondition(iterations >= 1, "MachinePeak: iterations must be >= 1, got \(iterations)")
        let flops = Double(mr_fma_peak_flops_per_iteration()) * Double(iterations)
        var sink: Float = 0
        _ = mr_fma_peak_loop(iterations / 10 + 1)  // wake the core up to its running clock
        var samples: [Double] = []
        samples.reserveCapacity(runs)
        for _ in 0..<runs {
            let elapsed = seconds(timing) { sink += mr_fma_peak_loop(iterations) }
            samples.append(flops / elapsed / 1e9)
        }
        precondition(sink.isFinite, "MachinePeak: FMA loop produced \(sink)")
        return samples.sorted()
    }

}
