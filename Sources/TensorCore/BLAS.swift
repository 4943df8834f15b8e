// The only file that imports CBLAS: the C surface never leaks into a public API.
import CBLAS

/// OpenBLAS entry points used by ``GEMM`` and thread control.
package enum BLAS {
    /// Row-major SGEMM through OpenBLAS: `C = alpha · op(A) · op(B) + beta · C`.
    package static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// Number of threads OpenBLAS uses for one call.
    package static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }
}

/// Process-wide OpenBLAS settings.
public enum BLASRuntime {
    /// Threads OpenBLAS may use inside one call. MetaRec defaults to 1: request-sized work is
    /// too small to split, and parallelism comes from serving/training worker threads instead.
    public static var threadCount: Int {
        get { BLAS.threadCount }
        set {
            precondition(newValue >= 1, "BLAS thread count must be >= 1, got \(newValue)")
            BLAS.threadCount = newValue
        }
    }

    /// Touches OpenBLAS's per-thread buffers with one 256×512×256 GEMM. Call once on every
    /// thread that will call BLAS, at start-up: until a large GEMM has run, OpenBLAS is several
    /// times slower on many shapes (figures in `Sources/TensorCore/README.md`).
    public static func warmUp() {
        let m = 256, k = 512, n = 256
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: m, n: n, k: k,
                        alpha: 1, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                        beta: 0, c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
}
