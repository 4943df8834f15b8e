// The AVX2/FMA fp32 top-N scan: a 64-item panel is eight ymm vectors per dimension (eight fma
// chains). Same chains, same rare path as the AVX-512 scan. (The int8 scan at this level is the
// integer loop of topn_scan.c, compiled for AVX2.)
#include "CKernels.h"
#include "gemm_avx2.h"
#include "topn_internal.h"

#if MR_GEMM_HAS_X86
/// The lanes of (upper, lower), items first ..< first + 8, that reach the threshold.
MR_AVX2 static inline __attribute__((always_inline)) void
offer_lanes_256(mr_topn_state *st, ptrdiff_t first, __m256 upper, __m256 lower) {
    int hit = _mm256_movemask_ps(_mm256_cmp_ps(upper, _mm256_set1_ps(st->threshold), _CMP_NLT_UQ));
    if (!hit) return;
    float up[8], lo[8];
    _mm256_storeu_ps(up, upper);
    _mm256_storeu_ps(lo, lower);
    while (hit) {
        int l = __builtin_ctz((unsigned)hit);
        hit &= hit - 1;
        mr_topn_offer(st, first + l, up[l], lo[l]);
    }
}

MR_AVX2 void mr_topn_scan_f32_avx2(const float *panels, ptrdiff_t panel_count, ptrdiff_t d, const float *q,
                                   mr_topn_state *st) {
    const ptrdiff_t stride = d * MR_TOPN_LANES;
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {
        const float *x = panels + p * stride;
        __m256 acc[8];
        for (int g = 0; g < 8; g++) acc[g] = _mm256_setzero_ps();
        for (ptrdiff_t j = 0; j < d; j++) {
            const __m256 qj = _mm256_set1_ps(q[j]);
            for (int g = 0; g < 8; g++) acc[g] = _mm256_fmadd_ps(qj, _mm256_loadu_ps(x + j * 64 + 8 * g), acc[g]);
        }
        for (int g = 0; g < 8; g++) offer_lanes_256(st, p * MR_TOPN_LANES + 8 * g, acc[g], acc[g]);
    }
}

#endif
