import Benchmark
import TensorCore

/// Row-major operands of one `C(m, n) = A(m, k) · B(k, n)` problem, allocated once so the timed
/// calls touch no allocator.
final class GEMMProblem {
    let m: Int, n: Int, k: Int
    let a: UnsafeMutableBufferPointer<Float>, b: UnsafeMutableBufferPointer<Float>
    let c: UnsafeMutableBufferPointer<Float> // (m, n)

    init(m: Int, n: Int, k: Int, seed: UInt64) {
        self.m = m; self.n = n; self.k = k
        var rng = SeededRandom(seed: seed)
        a = .allocate(capacity: m * k)
        b = .allocate(capacity: k * n)
        c = .allocate(capacity: m * n)
        for i in a.indices { a[i] = rng.nextUniform() - 0.5 }
        for i in b.indices { b[i] = rng.nextUniform() - 0.5 }
        c.initialize(repeating: 0)
    }

    deinit { for p in [a, b, c] { p.deallocate() } }

    func run(_ backend: GEMM.Backend) {
        GEMM.compute(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n,
                     c: c.baseAddress!, ldc: n, backend: backend)
    }

    /// Traps unless the hand kernel agrees with ``GEMM/referenceGEMM`` (Double accumulation).
    func validate() {
        run(.reference)
        let reference = Array(c)
        run(.microKernel)
        let scale = max(reference.map(abs).max() ?? 1, 1)
        let worst = zip(c, reference).map { abs($0 - $1) }.max() ?? 0
        precondition(worst <= 1e-4 * scale, "GEMM \(m)×\(n)×\(k): hand kernel differs from the reference by \(worst)")
    }
}

/// The hand kernel (``GEMM/Backend/microKernel``) at the model's shapes, `(m, n, k)`: the
/// serving bottom (256 candidate rows × K 128 → N 64) and a tower layer on 64 support rows.
func gemmBenchmarks() {
    for (m, n, k) in [(256, 64, 128), (64, 64, 64)] {
        let problem = Fixture<GEMMProblem>()
        Benchmark(
            "GEMM-\(m)x\(n)x\(k)",
            configuration: .init(timeUnits: m * n * k < 1_000_000 ? .nanoseconds : .microseconds, setup: {
                let p = GEMMProblem(m: m, n: n, k: k, seed: 1)
                p.validate()
                p.run(.microKernel) // the kernel's per-thread packing buffer, before measuring
                problem.value = p
            }, teardown: { problem.value = nil })
        ) { benchmark in
            let p = problem.unwrapped
            for _ in benchmark.scaledIterations { p.run(.microKernel) }
            blackHole(p.c[0])
        }
    }
}
