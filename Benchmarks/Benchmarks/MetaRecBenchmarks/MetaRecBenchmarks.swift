import Benchmark
import TensorCore

/// MetaRec's hot paths, each validated against a reference before it is timed:
///
/// ```
/// GEMM-256x64x128               hand kernel, M 256 × N 64 × K 128 (serving bottom: C rows, 128 → 64)
/// GEMM-64x64x64                 hand kernel, a tower layer on a 64-row support set
/// adapt-S64-k3                  64 → 64 → 1 tower, 64 support rows, 3 SGD steps (MLPParameters.adapt)
/// Predictor.score-reference     the reference serving request: S 64, k 3, C 200, 2 tasks
/// SupportStore.pull-64-rows     64 rows × (128 + 2) floats out of 4 096 tasks (1 000 pulls per iteration)
/// EmbeddingStore.pull-512-keys  512 random keys of 1 M rows, d 16
/// ```
///
/// Metrics: wall clock, throughput and malloc count; not peak resident memory, which the harness
/// samples around every iteration with 16 allocations of its own that would swamp the malloc count.
/// `thresholds check` compares each benchmark's p90 wall clock and malloc count with the committed
/// figures in `Thresholds/`, within ``Tolerance`` (see README.md).
///
/// Names carry no spaces or slashes: `thresholds update` writes `Thresholds/TARGET.NAME.p90.json`
/// with those replaced by `_`, but `thresholds check` looks the file up under the name as it is.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: [.wallClock: Tolerance.time, .mallocCountTotal: Tolerance.mallocs(0)])
    // One BLAS thread, as in serving and training: OpenBLAS has already read the environment
    // when the library loaded, so the thread count is set through the project's API.
    Benchmark.setup = {
        BLASRuntime.threadCount = 1
        BLASRuntime.warmUp()
    }

    gemmBenchmarks()
    adaptBenchmark()
    predictorBenchmark()
    storeBenchmarks()
}

/// How far a run may stray from the committed p90s in `Thresholds/` before `thresholds check`
/// reports it. The machine is 2 shared, noisy cores, so time is loose and allocation is tight.
enum Tolerance {
    /// p90 wall clock may reach 2.5× the committed p90 (`100·measured/committed − 100 ≤ 150`);
    /// being faster is never flagged.
    static var time: BenchmarkThresholds { BenchmarkThresholds(relative: [.p90: 150]) }

    /// p90 malloc count (per measured iteration) within `slack` of the committed one, both ways:
    /// a drop beyond it is reported as an improvement, so the thresholds get updated.
    static func mallocs(_ slack: Int) -> BenchmarkThresholds {
        BenchmarkThresholds(absolute: [.p90: slack])
    }
}

/// A benchmark's state, built once in its `setup` hook (so it never runs in other benchmarks'
/// processes) and read by its closure.
final class Fixture<Value>: @unchecked Sendable {
    var value: Value?

    var unwrapped: Value {
        guard let value else { fatalError("benchmark fixture used before its setup ran") }
        return value
    }
}
