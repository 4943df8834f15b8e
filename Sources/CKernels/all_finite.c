// Whether a float array holds only finite values (the predictor checks each adapted tower on
// every request). x * 0 is 0 for finite x and NaN for inf or NaN, so the sum of x * 0 is 0
// exactly when every element is finite: no branch per element, no early exit.
#include <math.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"

#if MR_GEMM_HAS_X86
MR_AVX512 static int all_finite_avx512(const float *x, ptrdiff_t n) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 s0 = zero, s1 = zero;
    ptrdiff_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), zero, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), zero, s1);
    }
    for (; i < n; i += 16) s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mr_lane_mask(n - i), x + i), zero, s0);
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) == 0.0f;
}
#endif

int mr_all_finite_at_level(int level, const float *x, ptrdiff_t n) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) return all_finite_avx512(x, n);
#endif
    float s = 0.0f;
    for (ptrdiff_t i = 0; i < n; i++) s += x[i] * 0.0f;
    return s == 0.0f;
}
