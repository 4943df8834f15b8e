// Portable fallback of mr_sgemm: loop order chosen so the innermost loop runs along
// contiguous rows of B and C, which compilers vectorise for any SIMD width.
#include "CKernels.h"
#include "gemm_internal.h"

void mr_sgemm_portable(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc) {
    if (m <= 0 || n <= 0) return;
    mr_gemm_scale_c(m, n, beta, c, ldc);
    if (k <= 0 || alpha == 0.0f) return;
    for (ptrdiff_t i = 0; i < m; ++i) {
        float *crow = c + i * ldc;
        for (ptrdiff_t p = 0; p < k; ++p) {
            float aip = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
            if (!trans_b) {
                const float *brow = b + p * ldb;
                for (ptrdiff_t j = 0; j < n; ++j) crow[j] += aip * brow[j];
            } else {
                for (ptrdiff_t j = 0; j < n; ++j) crow[j] += aip * b[j * ldb + p];
            }
        }
    }
}
