import Testing
import TensorCore
import TestSupport

/// One GEMM problem: `C(m, n) = alpha · op(A) · op(B) + beta · C`.
struct GEMMCase: Sendable, CustomTestStringConvertible {
    var m: Int, n: Int, k: Int
    var transposeA = false, transposeB = false

    var testDescription: String {
        "\(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(m)x\(n)x\(k)"
    }

    /// Shapes: 1×1×1, M = 1, sizes off the SIMD widths and the 6×16 (AVX2) and 6×64 (AVX-512)
    /// register tiles (N of 1–4 AVX-512 vectors with and without a partial last one), the serving
    /// shapes, and ones that cross the kernel's cache blocks (K > 256, N > 256, M > 96).
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 64, 128), (1, 7, 13), (7, 13, 17), (13, 17, 33), (33, 7, 13),
        (6, 16, 8), (5, 15, 3), (17, 33, 1), (16, 64, 128), (64, 64, 128), (97, 33, 20),
        (12, 17, 300), (7, 260, 9), (13, 47, 21), (19, 65, 70), (8, 130, 64), (50, 271, 33),
        (11, 32, 5), (9, 48, 16), (6, 64, 64), (13, 100, 21), (300, 16, 20),
    ]

    /// Every shape in every transpose variant (NN, TN, NT, TT).
    static let all: [GEMMCase] = shapes.flatMap { m, n, k in
        [(false, false), (true, false), (false, true), (true, true)].map { ta, tb in
            GEMMCase(m: m, n: n, k: k, transposeA: ta, transposeB: tb)
        }
    }

    /// Stored operands for the variant, seeded by the shape.
    func operands(seed: UInt64 = 0) -> (a: Tensor, b: Tensor) {
        let s = seed &+ UInt64(m * 10_007 + n * 101 + k)
        let a = randomTensor(transposeA ? [k, m] : [m, k], seed: s)
        let b = randomTensor(transposeB ? [n, k] : [k, n], seed: s &+ 1)
        return (a, b)
    }

    /// Float accumulation error grows with K; the elements are products of values in [-1, 1].
    var atol: Float { 1e-6 + 6e-8 * Float(k) }
}

/// `(alpha, beta)` pairs: overwrite, accumulate with alpha ≠ 1, and a general blend.
let gemmScalings: [(alpha: Float, beta: Float)] = [(1, 0), (0.75, 1), (-1.25, 0.5)]

/// `alpha · op(A) · op(B) + beta · c` by the naive Double reference.
func referenceResult(_ t: GEMMCase, _ a: Tensor, _ b: Tensor, _ c: Tensor, alpha: Float, beta: Float) -> Tensor {
    var expected = c
    expected.withUnsafeMutableBufferPointer { pc in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                GEMM.referenceGEMM(
                    m: t.m, n: t.n, k: t.k, a: pa.baseAddress!, lda: a.columns, transposeA: t.transposeA,
                    b: pb.baseAddress!, ldb: b.columns, transposeB: t.transposeB,
                    c: pc.baseAddress!, ldc: t.n, alpha: alpha, beta: beta)
            }
        }
    }
    return expected
}

@Suite struct GEMMTests {
    @Test(arguments: GEMMCase.all, [GEMM.Backend.microKernel, .openBLAS, .automatic])
    func `fast GEMM matches the reference for every transpose and scaling`(t: GEMMCase, backend: GEMM.Backend) {
        let (a, b) = t.operands()
        let c0 = randomTensor([t.m, t.n], seed: 99)
        for (alpha, beta) in gemmScalings {
            // beta == 0 must overwrite C: start from NaN to prove the old values are never read.
            var c = beta == 0 ? Tensor(shape: [t.m, t.n], repeating: .nan) : c0
            let expected = referenceResult(t, a, b, beta == 0 ? Tensor(shape: [t.m, t.n]) : c0, alpha: alpha, beta: beta)
            GEMM.multiply(a, transposed: t.transposeA, b, transposed: t.transposeB,
                          into: &c, alpha: alpha, beta: beta, backend: backend)
            expectClose(c, expected, rtol: 1e-5, atol: t.atol, "\(backend) alpha \(alpha) beta \(beta)")
        }
    }

    /// Every kernel this CPU can run (portable, AVX2, AVX-512), not only the dispatched one.
    @Test(arguments: GEMMCase.all.filter { $0.m * $0.n * $0.k <= 100_000 })
    func `every SIMD level's kernel matches the reference`(t: GEMMCase) {
        let (a, b) = t.operands(seed: 5)
        let c0 = randomTensor([t.m, t.n], seed: 7)
        for level in SIMDLevel.available {
            for (alpha, beta) in gemmScalings {
                var c = beta == 0 ? Tensor(shape: [t.m, t.n], repeating: .nan) : c0
                let expected = referenceResult(
                    t, a, b, beta == 0 ? Tensor(shape: [t.m, t.n]) : c0, alpha: alpha, beta: beta)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            GEMM.compute(
                                at: level, m: t.m, n: t.n, k: t.k,
                                a: pa.baseAddress!, lda: a.columns, transposeA: t.transposeA,
                                b: pb.baseAddress!, ldb: b.columns, transposeB: t.transposeB,
                                c: pc.baseAddress!, ldc: t.n, alpha: alpha, beta: beta)
                        }
                    }
                }
                expectClose(c, expected, rtol: 1e-5, atol: t.atol, "\(level) alpha \(alpha) beta \(beta)")
            }
        }
    }

    @Test(arguments: [GEMMCase(m: 256, n: 64, k: 128), GEMMCase(m: 200, n: 64, k: 128, transposeA: true, transposeB: true)],
          [GEMM.Backend.microKernel, .automatic])
    func `serving shapes match the reference`(t: GEMMCase, backend: GEMM.Backend) {
        let (a, b) = t.operands(seed: 11)
        let c0 = randomTensor([t.m, t.n], seed: 12)
        var c = c0
        GEMM.multiply(a, transposed: t.transposeA, b, transposed: t.transposeB, into: &c, alpha: 0.5, beta: 1, backend: backend)
        expectClose(c, referenceResult(t, a, b, c0, alpha: 0.5, beta: 1), rtol: 1e-5, atol: t.atol)
    }

    @Test(arguments: [GEMM.Backend.microKernel, .openBLAS, .reference],
          [(false, false), (true, false), (false, true), (true, true)])
    func `strided leading dimensions read and write only the addressed elements`(
        backend: GEMM.Backend, transposes: (Bool, Bool)
    ) {
        Self.checkStrided(m: 13, n: 19, k: 11, transposes: transposes) { m, n, k, a, lda, ta, b, ldb, tb, c, ldc in
            GEMM.compute(m: m, n: n, k: k, a: a, lda: lda, transposeA: ta, b: b, ldb: ldb, transposeB: tb,
                         c: c, ldc: ldc, alpha: 0.75, beta: 1, backend: backend)
        }
    }

    /// The same at every SIMD level's hand kernel, also with N across two AVX-512 panels.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func `every SIMD level reads and writes only the addressed elements`(transposes: (Bool, Bool)) {
        for level in SIMDLevel.available {
            for (m, n, k) in [(13, 19, 11), (8, 70, 9)] {
                Self.checkStrided(m: m, n: n, k: k, transposes: transposes) { m, n, k, a, lda, ta, b, ldb, tb, c, ldc in
                    GEMM.compute(at: level, m: m, n: n, k: k, a: a, lda: lda, transposeA: ta, b: b, ldb: ldb,
                                 transposeB: tb, c: c, ldc: ldc, alpha: 0.75, beta: 1)
                }
            }
        }
    }

    /// Runs `compute` (`C = 0.75·op(A)·op(B) + C`) on operands embedded in wider rows whose gaps
    /// hold NaN (A, B: reading one shows up in C) or a sentinel (C: it must survive).
    static func checkStrided(
        m: Int, n: Int, k: Int, transposes: (Bool, Bool),
        compute: (Int, Int, Int, UnsafePointer<Float>, Int, Bool, UnsafePointer<Float>, Int, Bool, UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        let (ta, tb) = transposes
        let pad = 5
        let aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n
        let lda = aCols + pad, ldb = bCols + pad + 2, ldc = n + pad
        let aDense = randomTensor([aRows, aCols], seed: 21), bDense = randomTensor([bRows, bCols], seed: 22)
        let c0 = randomTensor([m, n], seed: 23)
        let sentinel: Float = 12345
        var aWide = [Float](repeating: .nan, count: aRows * lda)
        var bWide = [Float](repeating: .nan, count: bRows * ldb)
        var cWide = [Float](repeating: sentinel, count: m * ldc)
        for i in 0..<aRows { for j in 0..<aCols { aWide[i * lda + j] = aDense[i, j] } }
        for i in 0..<bRows { for j in 0..<bCols { bWide[i * ldb + j] = bDense[i, j] } }
        for i in 0..<m { for j in 0..<n { cWide[i * ldc + j] = c0[i, j] } }
        aWide.withUnsafeBufferPointer { a in
            bWide.withUnsafeBufferPointer { b in
                cWide.withUnsafeMutableBufferPointer { c in
                    compute(m, n, k, a.baseAddress!, lda, ta, b.baseAddress!, ldb, tb, c.baseAddress!, ldc)
                }
            }
        }
        let t = GEMMCase(m: m, n: n, k: k, transposeA: ta, transposeB: tb)
        let expected = referenceResult(t, aDense, bDense, c0, alpha: 0.75, beta: 1)
        var c = Tensor(shape: [m, n])
        for i in 0..<m {
            for j in 0..<n { c[i, j] = cWide[i * ldc + j] }
            for j in n..<ldc { #expect(cWide[i * ldc + j] == sentinel, "C padding overwritten at (\(i), \(j)) \(t.testDescription)") }
        }
        expectClose(c, expected, rtol: 1e-5, atol: t.atol, t.testDescription)
    }

    @Test(arguments: [GEMM.Backend.microKernel, .openBLAS, .automatic])
    func `k = 0 scales C by beta and alpha = 0 ignores A and B`(backend: GEMM.Backend) {
        let c0 = randomTensor([3, 5], seed: 31)
        var c = c0
        GEMM.multiply(Tensor(shape: [3, 0]), Tensor(shape: [0, 5]), into: &c, beta: 0.5, backend: backend)
        expectClose(c, Tensor(shape: [3, 5], scalars: c0.scalars.map { $0 * 0.5 }))
        var d = Tensor(shape: [3, 5], repeating: .nan)
        GEMM.multiply(randomTensor([3, 4], seed: 1), randomTensor([4, 5], seed: 2), into: &d, alpha: 0, beta: 0, backend: backend)
        #expect(d.scalars.allSatisfy { $0 == 0 })
    }

    @Test func `concurrent callers on different threads get their own correct results`() async {
        let cases = (0..<8).map { i in GEMMCase(m: 20 + 7 * i, n: 33 + i, k: 40 + 5 * i, transposeA: i % 2 == 1, transposeB: i % 3 == 0) }
        let failures = await withTaskGroup(of: Int.self) { group in
            for t in cases {
                group.addTask {
                    let (a, b) = t.operands(seed: 41)
                    let expected = referenceResult(t, a, b, Tensor(shape: [t.m, t.n]), alpha: 1, beta: 0)
                    var bad = 0
                    for _ in 0..<10 {
                        let c = a.matmul(b, transposeSelf: t.transposeA, transposeOther: t.transposeB, backend: .microKernel)
                        let wrong = zip(c.scalars, expected.scalars).contains { x, e in
                            !(abs(x - e) <= t.atol + 1e-5 * abs(e))
                        }
                        if wrong { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    @Test func `matmul returns op(A)·op(B) with the right shape`() {
        let a = randomTensor([4, 3], seed: 51), b = randomTensor([5, 3], seed: 52)
        let c = a.matmul(b, transposeOther: true)
        #expect(c.shape == [4, 5])
        expectClose(c, Reference.matmul(a, b, transposeB: true), rtol: 1e-5, atol: 1e-6)
    }

    @Test func `AVX2 dispatch sends serving and training shapes to the hand kernel and large ones to OpenBLAS`() {
        func backend(_ m: Int, _ n: Int, _ k: Int, _ ta: Bool = false, _ tb: Bool = false) -> GEMM.Backend {
            GEMM.resolvedBackend(m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: .avx2)
        }
        #expect(backend(256, 64, 128) == .microKernel)
        #expect(backend(1024, 64, 128) == .microKernel)
        #expect(backend(1024, 1024, 1024) == .openBLAS)
        // Training shapes (census experts, D = 271): forward, input gradient, weight gradient.
        #expect(backend(256, 64, 271) == .microKernel)
        #expect(backend(256, 271, 64, false, true) == .microKernel)
        #expect(backend(271, 64, 271, true, false) == .microKernel)
        #expect(backend(271, 64, 512, true, false) == .openBLAS)
        #expect(backend(16, 271, 271) == .openBLAS)
        #expect(backend(1, 64, 128) == .openBLAS)
        #expect(backend(256, 64, 128, true, false) == .microKernel)
        #expect(backend(256, 8, 128, true, false) == .openBLAS)
    }

    @Test func `AVX-512 dispatch sends every shape with N of 16 to 1024 to the hand kernel but a few`() {
        func backend(_ m: Int, _ n: Int, _ k: Int, _ ta: Bool = false, _ tb: Bool = false) -> GEMM.Backend {
            GEMM.resolvedBackend(m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: .avx512)
        }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            #expect(backend(200, 64, 64, ta, tb) == .microKernel)
            #expect(backend(1024, 1024, 1024, ta, tb) == .microKernel)
            #expect(backend(16, 271, 512, ta, tb) == .microKernel)
            #expect(backend(64, 16, 8, ta, tb) == .microKernel)
            #expect(backend(64, 2048, 64, ta, tb) == .openBLAS)
            #expect(backend(64, 64, 2048, ta, tb) == .openBLAS)
        }
        #expect(backend(1, 64, 128) == .microKernel)
        #expect(backend(4, 64, 512, false, true) == .openBLAS)
        #expect(backend(256, 1, 128) == .openBLAS)
        #expect(backend(16, 1, 128) == .microKernel)
        #expect(backend(256, 8, 128, true, false) == .openBLAS)
        #expect(backend(256, 8, 128, false, true) == .microKernel)
        #expect(GEMM.resolvedBackend(m: 200, n: 64, k: 64, transposeA: false, transposeB: false, level: .portable) == .openBLAS)
    }

    @Test func `measured peak is positive and finite`() {
        let peak = MachinePeak.measureSingleCoreGFLOPS(runs: 3, iterations: 2_000)
        #expect(peak.isFinite && peak > 0)
    }

    @Test func `inner-dimension mismatch in multiply is a precondition failure`() async {
        await #expect(processExitsWith: .failure) {
            var c = Tensor(shape: [2, 4])
            GEMM.multiply(Tensor(shape: [2, 3]), Tensor(shape: [5, 4]), into: &c)
        }
    }

    @Test func `wrong output shape in multiply is a precondition failure`() async {
        await #expect(processExitsWith: .failure) {
            var c = Tensor(shape: [3, 4])
            GEMM.multiply(Tensor(shape: [2, 3]), Tensor(shape: [3, 4]), into: &c)
        }
    }
}
