// The AVX-512 top-N scans: a 64-item panel is four zmm vectors per dimension, read as one
// sequential stream (d·256 bytes fp32, d·64 int8 per panel); four independent fma chains hide
// the latency. A lane whose upper bound reaches the threshold (rare once the heap is full)
// leaves the vector path for mr_topn_offer.
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"
#include "topn_internal.h"

#if MR_GEMM_HAS_X86
/// The lanes of (upper, lower), items first ..< first + 16, that reach the threshold.
MR_AVX512 static inline __attribute__((always_inline)) void
offer_lanes_512(mr_topn_state *st, ptrdiff_t first, __m512 upper, __m512 lower) {
    __mmask16 hit = _mm512_cmp_ps_mask(upper, _mm512_set1_ps(st->threshold), _CMP_NLT_UQ);
    if (!hit) return;
    float up[16], lo[16];
    _mm512_storeu_ps(up, upper);
    _mm512_storeu_ps(lo, lower);
    while (hit) {
        int l = __builtin_ctz(hit);
        hit &= hit - 1;
        mr_topn_offer(st, first + l, up[l], lo[l]);
    }
}

MR_AVX512 void mr_topn_scan_f32_avx512(const float *panels, ptrdiff_t panel_count, ptrdiff_t d, const float *q,
                                       mr_topn_state *st) {
    const ptrdiff_t stride = d * MR_TOPN_LANES;
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {
        const float *x = panels + p * stride;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (ptrdiff_t j = 0; j < d; j++) {
            const __m512 qj = _mm512_set1_ps(q[j]);
            const float *xj = x + j * 64;
            acc0 = _mm512_fmadd_ps(qj, _mm512_loadu_ps(xj), acc0);
            acc1 = _mm512_fmadd_ps(qj, _mm512_loadu_ps(xj + 16), acc1);
            acc2 = _mm512_fmadd_ps(qj, _mm512_loadu_ps(xj + 32), acc2);
            acc3 = _mm512_fmadd_ps(qj, _mm512_loadu_ps(xj + 48), acc3);
        }
        const ptrdiff_t first = p * MR_TOPN_LANES;
        offer_lanes_512(st, first, acc0, acc0);
        offer_lanes_512(st, first + 16, acc1, acc1);
        offer_lanes_512(st, first + 32, acc2, acc2);
        offer_lanes_512(st, first + 48, acc3, acc3);
    }
}

/// Sixteen int8 codes as floats (exact).
MR_AVX512 static inline __attribute__((always_inline)) __m512 load_codes_512(const int8_t *c) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)c)));
}

/// a = t * scale; upper = fma(qn, err, a); lower = fma(-qn, err, a); then the rare path.
MR_AVX512 static inline __attribute__((always_inline)) void
bound_lanes_512(mr_topn_state *st, ptrdiff_t first, __m512 t, const float *scale, const float *err, __m512 qn) {
    const __m512 a = _mm512_mul_ps(t, _mm512_loadu_ps(scale + first));
    const __m512 e = _mm512_loadu_ps(err + first);
    offer_lanes_512(st, first, _mm512_fmadd_ps(qn, e, a), _mm512_fnmadd_ps(qn, e, a));
}

MR_AVX512 void mr_topn_scan_i8_avx512(const int8_t *codes, const float *scale, const float *err, ptrdiff_t panel_count,
                                      ptrdiff_t d, const float *q, float qnorm, mr_topn_state *st) {
    const ptrdiff_t stride = d * MR_TOPN_LANES;
    const __m512 qn = _mm512_set1_ps(qnorm);
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {
        const int8_t *c = codes + p * stride;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (ptrdiff_t j = 0; j < d; j++) {
            const __m512 qj = _mm512_set1_ps(q[j]);
            const int8_t *cj = c + j * 64;
            acc0 = _mm512_fmadd_ps(qj, load_codes_512(cj), acc0);
            acc1 = _mm512_fmadd_ps(qj, load_codes_512(cj + 16), acc1);
            acc2 = _mm512_fmadd_ps(qj, load_codes_512(cj + 32), acc2);
            acc3 = _mm512_fmadd_ps(qj, load_codes_512(cj + 48), acc3);
        }
        const ptrdiff_t first = p * MR_TOPN_LANES;
        bound_lanes_512(st, first, acc0, scale, err, qn);
        bound_lanes_512(st, first + 16, acc1, scale, err, qn);
        bound_lanes_512(st, first + 32, acc2, scale, err, qn);
        bound_lanes_512(st, first + 48, acc3, scale, err, qn);
    }
}
#endif
