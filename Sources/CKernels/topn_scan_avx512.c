// The AVX-512 top-N scans: a 64-item panel is four zmm vectors per dimension (fp32) or per four
// dimensions (int8, VNNI), read as one sequential stream (d·256 bytes fp32, d·64 int8 per
// panel); four independent chains hide the latency. A lane whose upper bound reaches the threshold (rare once the heap is full)
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

#define MR_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))

/// a = ((float)(acc - 128·Σcq) · scale) · qscale; upper = fma(q2, norm, fma(q1, err, a)), lower
/// with -q1, -q2; then the rare path.
MR_VNNI static inline __attribute__((always_inline)) void
bound_lanes_vnni(mr_topn_state *st, ptrdiff_t first, __m512i acc, __m512i bias, const float *scale, const float *err,
                 const float *norm, __m512 qscale, __m512 q1, __m512 q2) {
    __m512 a = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, bias)), _mm512_loadu_ps(scale + first));
    a = _mm512_mul_ps(a, qscale);
    const __m512 e = _mm512_loadu_ps(err + first), n = _mm512_loadu_ps(norm + first);
    offer_lanes_512(st, first, _mm512_fmadd_ps(q2, n, _mm512_fmadd_ps(q1, e, a)),
                    _mm512_fnmadd_ps(q2, n, _mm512_fnmadd_ps(q1, e, a)));
}

MR_VNNI void mr_topn_scan_i8_vnni(const uint8_t *codes, const float *scale, const float *err, const float *norm,
                                  ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq, float qscale, float q1, float q2,
                                  mr_topn_state *st) {
    int32_t qsum = 0;
    for (ptrdiff_t j = 0; j < 4 * d4; j++) qsum += cq[j];
    const __m512i bias = _mm512_set1_epi32(128 * qsum);
    const __m512 qs = _mm512_set1_ps(qscale), v1 = _mm512_set1_ps(q1), v2 = _mm512_set1_ps(q2);
    const ptrdiff_t stride = d4 * 4 * MR_TOPN_LANES;
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {
        const uint8_t *u = codes + p * stride;
        __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (ptrdiff_t g = 0; g < d4; g++) {
            int32_t four;
            __builtin_memcpy(&four, cq + 4 * g, 4);
            const __m512i qg = _mm512_set1_epi32(four);
            const uint8_t *ug = u + g * 256;
            acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(ug), qg);
            acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(ug + 64), qg);
            acc2 = _mm512_dpbusd_epi32(acc2, _mm512_loadu_si512(ug + 128), qg);
            acc3 = _mm512_dpbusd_epi32(acc3, _mm512_loadu_si512(ug + 192), qg);
        }
        const ptrdiff_t first = p * MR_TOPN_LANES;
        bound_lanes_vnni(st, first, acc0, bias, scale, err, norm, qs, v1, v2);
        bound_lanes_vnni(st, first + 16, acc1, bias, scale, err, norm, qs, v1, v2);
        bound_lanes_vnni(st, first + 32, acc2, bias, scale, err, norm, qs, v1, v2);
        bound_lanes_vnni(st, first + 48, acc3, bias, scale, err, norm, qs, v1, v2);
    }
}
#endif
