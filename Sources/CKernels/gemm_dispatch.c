// Chooses the AVX2/FMA kernel at run time (per-function target attributes, no global -mavx2,
// so the package builds for any x86-64 or non-x86 target) and handles the degenerate cases.
#include "CKernels.h"
#include "gemm_internal.h"

int mr_sgemm_uses_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    // Reads the CPU model libgcc/compiler-rt filled in at load time; cheap and thread-safe.
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

void mr_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
              float alpha, const float *a, ptrdiff_t lda,
              const float *b, ptrdiff_t ldb,
              float beta, float *c, ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return;
    // BLAS convention: with k == 0 or alpha == 0, A and B are not read.
    if (k <= 0 || alpha == 0.0f) {
        mr_gemm_scale_c(m, n, beta, c, ldc);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (mr_sgemm_uses_avx2()) {
        mr_sgemm_avx2(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    mr_sgemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
