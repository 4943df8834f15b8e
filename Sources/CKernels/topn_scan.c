// Exact top-N by inner product, one query: the portable scans, the exact row scoring and the
// level dispatch. The AVX2 and AVX-512 scans (topn_scan_avx2.c, topn_scan_avx512.c) compute
// the same fma chains sixteen lanes at a time; the rare path (topn_internal.h) is shared.
#include <math.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"
#include "topn_internal.h"

#if MR_GEMM_HAS_X86
void mr_topn_scan_f32_avx2(const float *panels, ptrdiff_t panel_count, ptrdiff_t d, const float *q, mr_topn_state *st);
void mr_topn_scan_f32_avx512(const float *panels, ptrdiff_t panel_count, ptrdiff_t d, const float *q, mr_topn_state *st);
void mr_topn_scan_i8_vnni(const uint8_t *codes, const float *scale, const float *err, const float *norm,
                          ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq, float qscale, float q1, float q2,
                          mr_topn_state *st);
#endif

static void scan_f32_portable(const float *panels, ptrdiff_t panel_count, ptrdiff_t d, const float *q, mr_topn_state *st) {
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {
        const float *x = panels + p * d * MR_TOPN_LANES;
        float acc[MR_TOPN_LANES] = {0};
        for (ptrdiff_t j = 0; j < d; j++)
            for (int l = 0; l < MR_TOPN_LANES; l++) acc[l] = fmaf(q[j], x[j * MR_TOPN_LANES + l], acc[l]);
        for (int l = 0; l < MR_TOPN_LANES; l++)
            if (!(acc[l] < st->threshold)) mr_topn_offer(st, p * MR_TOPN_LANES + l, acc[l], acc[l]);
    }
}

// The integer scan of every level but AVX-512 VNNI (compiled twice: plain and with AVX2, where
// the compiler vectorises the sums). Integer sums are exact, so every version gives the same t_i.
#define MR_SCAN_I8_BODY                                                                           \
    int32_t qsum = 0;                                                                             \
    for (ptrdiff_t j = 0; j < 4 * d4; j++) qsum += cq[j];                                         \
    for (ptrdiff_t p = 0; p < panel_count && !st->overflow; p++) {                                \
        const uint8_t *u = codes + p * d4 * 4 * MR_TOPN_LANES;                                    \
        int32_t acc[MR_TOPN_LANES] = {0};                                                         \
        for (ptrdiff_t g = 0; g < d4; g++)                                                        \
            for (int l = 0; l < MR_TOPN_LANES; l++)                                               \
                for (int r = 0; r < 4; r++)                                                       \
                    acc[l] += (int32_t)cq[4 * g + r] * (int32_t)u[(g * MR_TOPN_LANES + l) * 4 + r]; \
        for (int l = 0; l < MR_TOPN_LANES; l++) {                                                 \
            ptrdiff_t i = p * MR_TOPN_LANES + l;                                                  \
            float a = (float)(acc[l] - 128 * qsum) * scale[i];                                    \
            a = a * qscale;                                                                       \
            float upper = fmaf(q2, norm[i], fmaf(q1, err[i], a));                                 \
            float lower = fmaf(-q2, norm[i], fmaf(-q1, err[i], a));                               \
            if (!(upper < st->threshold)) mr_topn_offer(st, i, upper, lower);                     \
        }                                                                                         \
    }

static void scan_i8_portable(const uint8_t *codes, const float *scale, const float *err, const float *norm,
                             ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq, float qscale, float q1, float q2,
                             mr_topn_state *st) {
    MR_SCAN_I8_BODY
}

#if MR_GEMM_HAS_X86
MR_AVX2 static void scan_i8_avx2(const uint8_t *codes, const float *scale, const float *err, const float *norm,
                                 ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq, float qscale, float q1, float q2,
                                 mr_topn_state *st) {
    MR_SCAN_I8_BODY
}
#endif

void mr_topn_scan_f32_at_level(int level, const float *panels, ptrdiff_t panel_count, ptrdiff_t d,
                               const float *q, mr_topn_state *st) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) { mr_topn_scan_f32_avx512(panels, panel_count, d, q, st); return; }
    if (level >= MR_SIMD_AVX2) { mr_topn_scan_f32_avx2(panels, panel_count, d, q, st); return; }
#endif
    scan_f32_portable(panels, panel_count, d, q, st);
}

int mr_cpu_has_avx512_vnni(void) {
#if MR_GEMM_HAS_X86
    // The VNNI kernel is compiled with avx512bw too (its mask moves are BW instructions).
    return mr_cpu_simd_level() >= MR_SIMD_AVX512 && __builtin_cpu_supports("avx512vnni")
        && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

void mr_topn_scan_i8_at_level(int level, const uint8_t *codes, const float *scale, const float *err,
                              const float *norm, ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq,
                              float qscale, float q1, float q2, mr_topn_state *st) {
    if (level > mr_cpu_simd_level() || d4 > 256) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512 && mr_cpu_has_avx512_vnni()) {
        mr_topn_scan_i8_vnni(codes, scale, err, norm, panel_count, d4, cq, qscale, q1, q2, st);
        return;
    }
    if (level >= MR_SIMD_AVX2) { scan_i8_avx2(codes, scale, err, norm, panel_count, d4, cq, qscale, q1, q2, st); return; }
#endif
    scan_i8_portable(codes, scale, err, norm, panel_count, d4, cq, qscale, q1, q2, st);
}

// Eight rows at a time: eight independent fma chains hide the fma latency; each chain is the
// scans' order. The body is the same at every level (only fmaf's instruction differs).
#define MR_SCORE_ROWS_BODY                                                                        \
    ptrdiff_t r = 0;                                                                              \
    for (; r + 8 <= count; r += 8) {                                                              \
        const float *x[8];                                                                        \
        float acc[8] = {0};                                                                       \
        for (int u = 0; u < 8; u++) x[u] = v + (ids ? (ptrdiff_t)ids[r + u] : first + r + u) * d; \
        for (ptrdiff_t j = 0; j < d; j++)                                                         \
            for (int u = 0; u < 8; u++) acc[u] = fmaf(q[j], x[u][j], acc[u]);                     \
        for (int u = 0; u < 8; u++) out[r + u] = acc[u];                                          \
    }                                                                                             \
    for (; r < count; r++) {                                                                      \
        const float *x = v + (ids ? (ptrdiff_t)ids[r] : first + r) * d;                           \
        float acc = 0;                                                                            \
        for (ptrdiff_t j = 0; j < d; j++) acc = fmaf(q[j], x[j], acc);                            \
        out[r] = acc;                                                                             \
    }

#if MR_GEMM_HAS_X86
MR_AVX2 static void score_rows_fma(const float *v, ptrdiff_t d, const float *q, const int32_t *ids, ptrdiff_t first,
                                   ptrdiff_t count, float *out) {
    MR_SCORE_ROWS_BODY
}
#endif

static void score_rows_portable(const float *v, ptrdiff_t d, const float *q, const int32_t *ids, ptrdiff_t first,
                                ptrdiff_t count, float *out) {
    MR_SCORE_ROWS_BODY
}

void mr_topn_score_rows_at_level(int level, const float *v, ptrdiff_t d, const float *q,
                                 const int32_t *ids, ptrdiff_t first, ptrdiff_t count, float *out) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX2) { score_rows_fma(v, d, q, ids, first, count, out); return; }
#endif
    score_rows_portable(v, d, q, ids, first, count, out);
}
