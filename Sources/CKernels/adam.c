// The Adam (AdamW) update over one tensor (see CKernels.h). AVX-512: 16 lanes, a lane mask on
// the tail; sqrt and division are the exact IEEE instructions, as in the portable loop.
#include <math.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"

static void adam_portable(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1, float b2,
                          float ic1, float ic2, float eps, float lr, float wd) {
    for (ptrdiff_t j = 0; j < n; j++) {
        const float gj = g[j];
        m[j] = b1 * m[j] + (1.0f - b1) * gj;
        v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
        const float update = (m[j] * ic1) / (sqrtf(v[j] * ic2) + eps);
        p[j] -= lr * (update + wd * p[j]);
    }
}

#if MR_GEMM_HAS_X86
MR_AVX512 static void adam_avx512(float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1, float b2,
                                  float ic1, float ic2, float eps, float lr, float wd) {
    const __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2);
    const __m512 va1 = _mm512_set1_ps(1.0f - b1), va2 = _mm512_set1_ps(1.0f - b2);
    const __m512 vic1 = _mm512_set1_ps(ic1), vic2 = _mm512_set1_ps(ic2), veps = _mm512_set1_ps(eps);
    const __m512 vlr = _mm512_set1_ps(lr), vwd = _mm512_set1_ps(wd);
    for (ptrdiff_t j = 0; j < n; j += 16) {
        const __mmask16 k = mr_lane_mask(n - j);
        const __m512 gj = _mm512_maskz_loadu_ps(k, g + j);
        const __m512 mj = _mm512_fmadd_ps(vb1, _mm512_maskz_loadu_ps(k, m + j), _mm512_mul_ps(va1, gj));
        const __m512 vj = _mm512_fmadd_ps(vb2, _mm512_maskz_loadu_ps(k, v + j), _mm512_mul_ps(_mm512_mul_ps(va2, gj), gj));
        const __m512 update = _mm512_div_ps(_mm512_mul_ps(mj, vic1),
                                            _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vj, vic2)), veps));
        const __m512 pj = _mm512_maskz_loadu_ps(k, p + j);
        _mm512_mask_storeu_ps(m + j, k, mj);
        _mm512_mask_storeu_ps(v + j, k, vj);
        _mm512_mask_storeu_ps(p + j, k, _mm512_fnmadd_ps(vlr, _mm512_fmadd_ps(vwd, pj, update), pj));
    }
}
#endif

void mr_adam_step_at_level(int level, float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1,
                           float b2, float ic1, float ic2, float eps, float lr, float wd) {
    if (level > mr_cpu_simd_level()) abort();
    if (n <= 0) return;
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        adam_avx512(p, g, m, v, n, b1, b2, ic1, ic2, eps, lr, wd);
        return;
    }
#endif
    adam_portable(p, g, m, v, n, b1, b2, ic1, ic2, eps, lr, wd);
}
