import CKernels

/// General matrix multiply on row-major Float32 matrices:
///
/// ```
/// C = alpha · op(A) · op(B) + beta · C        op(X) = X or Xᵀ
/// op(A): (m, k)   op(B): (k, n)   C: (m, n)
/// ```
///
/// Every forward and backward pass in MetaRec goes through here:
/// `Y = X·W` (forward), `dX += dY·Wᵀ`, `dW += Xᵀ·dY` (backward, with `beta = 1`).
public enum GEMM {
    /// Which implementation runs a multiply.
    public enum Backend: Sendable, Equatable, CaseIterable {
        /// Pick by shape and transposes: the hand kernel for small and skinny shapes where it
        /// measured faster, OpenBLAS otherwise (see ``GEMM/resolvedBackend(m:n:k:transposeA:transposeB:)``).
        case automatic
        /// OpenBLAS `cblas_sgemm`.
        case openBLAS
        /// The hand-written register-blocked kernel of ``SIMDLevel/inUse`` (a 6×64 AVX-512 tile, a
        /// 6×16 AVX2/FMA tile, or a portable fallback). Correct for any shape; where each is faster
        /// than OpenBLAS: ``GEMM/resolvedBackend(m:n:k:transposeA:transposeB:level:)``.
        /// Thread-safe; allocates one bounded packing buffer (≈ 350 KiB) per calling thread,
        /// on that thread's first call, and nothing after.
        case microKernel
        /// Naive triple loop in Double; the correctness reference.
        case reference
    }

    /// The backend ``Backend/automatic`` resolves to for an `(m, n, k)` problem with neither
    /// operand transposed (`Y = X·W`, the forward pass).
    public static func resolvedBackend(m: Int, n: Int, k: Int) -> Backend {
        resolvedBackend(m: m, n: n, k: k, transposeA: false, transposeB: false)
    }

    /// The backend ``Backend/automatic`` resolves to for `C(m, n) = op(A)·op(B)`, inner size `k`,
    /// with the hand kernel of `level` (``SIMDLevel/inUse`` by default; ``SIMDLevel/portable``
    /// always resolves to OpenBLAS).
    ///
    /// The rule is measured, not modelled: `metarec-bench gemm --dispatch-grid --all-transposes`
    /// prints the hand/OpenBLAS throughput ratio over a grid of shapes (thread CPU time, 1 BLAS
    /// thread, warmed up), and the hand kernel is picked only where it was not slower. The grids
    /// and the ratios behind each threshold are in `Sources/TensorCore/README.md` ("Measured:
    /// where the hand kernels lose").
    ///
    /// **AVX-512** (the 6×64 tile) wins wherever a row sliver fills most of a tile. It loses
    /// where the tile is mostly padding or the packing is not amortised: transposed B with very
    /// few rows and a deep K, and narrow outputs (N < 16) except the small plain cases listed in
    /// the rule. Shapes with N or K beyond the measured grid (1024) go to OpenBLAS; M has no
    /// bound, since the kernel's work and traffic per 6-row sliver do not depend on it.
    ///
    /// **AVX2/FMA** (the 6×16 tile) loses with fewer than 6 rows (the tile is mostly padding),
    /// with a 1-wide plain output and a shallow K, with transposed B and N ≤ 4 (the 16-wide B
    /// panel is mostly padding), and with transposed A and a narrow N (the per-call packing of A
    /// is not amortised); the wider rules for the training shapes (K or N up to 512) follow the
    /// same measurements.
    public static func resolvedBackend(
        m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, level: SIMDLevel = .inUse
    ) -> Backend {
        switch level {
        case .avx512: avx512Backend(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        case .avx2: avx2Backend(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        case .portable: .openBLAS
        }
    }

    private static func avx512Backend(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> Backend {
        guard n <= 1024, k <= 1024 else { return .openBLAS }
        if n >= 16 { return transposeB && m < 6 && k > 256 && n >= 64 ? .openBLAS : .microKernel }
        if transposeA { return !transposeB && m <= 4 && k <= 32 ? .microKernel : .openBLAS }
        if transposeB { return n >= 8 && m >= 64 && k >= 32 ? .microKernel : .openBLAS }
        return m <= 16 || (n >= 4 && (k >= 32 || m <= 64)) ? .microKernel : .openBLAS
    }

    private static func avx2Backend(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> Backend {
        guard m >= 6, m <= 2048, n <= 512, k <= 512 else { return .openBLAS }
        if n > 128 || k > 256 {
            if transposeA { return m >= 64 && k <= 288 ? .microKernel : .openBLAS }
            if transposeB { return .microKernel }
            return m >= 64 ? .microKernel : .openBLAS
        }
        let hand: Bool
        if transposeA {
            hand = n >= 64 && (k <= 32 || (k <= 128 && m >= 32) || m >= 1024)
        } else if transposeB {
            hand = n >= 8
        } else {
            hand = n >= 4 || k >= 128
        }
        return hand ? .microKernel : .openBLAS
    }

    /// Pointer-level GEMM. Strides are row strides of the *stored* matrices.
    ///
    /// - Parameters:
    ///   - a: `(m, k)` with row stride `lda`, or `(k, m)` when `transposeA`.
    ///   - b: `(k, n)` with row stride `ldb`, or `(n, k)` when `transposeB`.
    ///   - c: `(m, n)` with row stride `ldc`; with `beta == 0` its old contents are ignored
    ///     (NaNs in C are not propagated); with `beta == 1` the product is accumulated.
    /// - Complexity: `2·m·n·k` flops. Safe to call concurrently from many threads on
    ///   distinct `c` buffers.
    public static func compute(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0,
        backend: Backend = .automatic
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size m=\(m) n=\(n) k=\(k)")
        if m == 0 || n == 0 { return }
        var chosen = backend
        if chosen == .automatic {
            chosen = resolvedBackend(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        }
        switch chosen {
        case .openBLAS, .automatic:
            BLAS.sgemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        case .microKernel:
            mr_sgemm(
                transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc)
        case .reference:
            referenceGEMM(
                m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA,
                b: b, ldb: ldb, transposeB: transposeB, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }

    /// The hand kernel of one SIMD level, same contract as ``compute``; lets tests cover every
    /// kernel the CPU can run, not only the one ``Backend/microKernel`` picks.
    /// - Precondition: `level <= SIMDLevel.cpu`.
    package static func compute(
        at level: SIMDLevel,
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float, beta: Float
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative size m=\(m) n=\(n) k=\(k)")
        precondition(level <= SIMDLevel.cpu, "GEMM: this CPU cannot run the \(level) kernel")
        mr_sgemm_at_level(
            Int32(level.rawValue), transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k,
            alpha, a, lda, b, ldb, beta, c, ldc)
    }

    /// Naive GEMM accumulating in Double: the reference the fast kernels are tested against.
    public static func referenceGEMM(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transposeA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float, beta: Float
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let aip = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let bpj = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(aip) * Double(bpj)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * s + old)
            }
        }
    }

    /// Tensor-level GEMM on rank-2 tensors: `c = alpha · op(a) · op(b) + beta · c`.
    /// `c` must already have shape `(m, n)`.
    public static func multiply(
        _ a: Tensor, transposed transposeA: Bool = false,
        _ b: Tensor, transposed transposeB: Bool = false,
        into c: inout Tensor, alpha: Float = 1, beta: Float = 0,
        backend: Backend = .automatic
    ) {
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let kb = transposeB ? b.columns : b.rows
        let n = transposeB ? b.rows : b.columns
        precondition(k == kb, "GEMM: inner dimensions differ: op(A) is (\(m), \(k)), op(B) is (\(kb), \(n))")
        precondition(c.shape == [m, n], "GEMM: C has shape \(c.shape), expected [\(m), \(n)]")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { c.fill(0) } else { c.scale(by: beta) }
            return
        }
        let lda = a.columns, ldb = b.columns
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    compute(
                        m: m, n: n, k: k,
                        a: pa.baseAddress!, lda: lda, transposeA: transposeA,
                        b: pb.baseAddress!, ldb: ldb, transposeB: transposeB,
                        c: pc.baseAddress!, ldc: n, alpha: alpha, beta: beta, backend: backend)
                }
            }
        }
    }
}

extension Tensor {
    /// `op(self) · op(other)` as a new rank-2 tensor.
    public func matmul(
        _ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false,
        backend: GEMM.Backend = .automatic
    ) -> Tensor {
        let m = transposeSelf ? columns : rows
        let n = transposeOther ? other.rows : other.columns
        var c = Tensor(shape: [m, n])
        GEMM.multiply(self, transposed: transposeSelf, other, transposed: transposeOther, into: &c, backend: backend)
        return c
    }
}
