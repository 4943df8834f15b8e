// The folded first layer (see CKernels.h): a linear layer on embedding rows, computed per
// distinct (feature, row) "unit" instead of per batch row. AVX-512: up to 64 columns per pass
// in registers (lane masks on the edge); otherwise plain loops.
#include <stdint.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"

static void fold_project_portable(ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                  const int32_t *slot, const int32_t *row0, const float *w, ptrdiff_t ldw,
                                  float *p, ptrdiff_t ldp) {
    for (ptrdiff_t u = 0; u < units; u++) {
        const float *r = rows + (ptrdiff_t)slot[u] * d;
        const float *wu = w + (ptrdiff_t)row0[u] * ldw;
        float *pu = p + u * ldp;
        for (ptrdiff_t c = 0; c < n; c++) pu[c] = 0.0f;
        for (ptrdiff_t k = 0; k < d; k++)
            for (ptrdiff_t c = 0; c < n; c++) pu[c] += r[k] * wu[k * ldw + c];
    }
}

static void fold_gather_portable(ptrdiff_t rows, ptrdiff_t fields, ptrdiff_t n, const float *p, ptrdiff_t ldp,
                                 const int32_t *unit, const float *bias, float *out, ptrdiff_t ldo) {
    for (ptrdiff_t b = 0; b < rows; b++) {
        float *o = out + b * ldo;
        if (bias)
            for (ptrdiff_t c = 0; c < n; c++) o[c] += bias[c];
        for (ptrdiff_t f = 0; f < fields; f++) {
            const float *pu = p + (ptrdiff_t)unit[f * rows + b] * ldp;
            for (ptrdiff_t c = 0; c < n; c++) o[c] += pu[c];
        }
    }
}

static void fold_sum_portable(ptrdiff_t units, ptrdiff_t n, const float *dy, ptrdiff_t ldy, const int32_t *offsets,
                              const int32_t *members, float *s, ptrdiff_t lds) {
    for (ptrdiff_t u = 0; u < units; u++) {
        float *su = s + u * lds;
        for (ptrdiff_t c = 0; c < n; c++) su[c] = 0.0f;
        for (int32_t i = offsets[u]; i < offsets[u + 1]; i++) {
            const float *g = dy + (ptrdiff_t)members[i] * ldy;
            for (ptrdiff_t c = 0; c < n; c++) su[c] += g[c];
        }
    }
}

static void fold_backproject_portable(ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                      const int32_t *slot, const int32_t *row0, const float *s, ptrdiff_t lds,
                                      const float *w, ptrdiff_t ldw, float *dw, float *drows) {
    for (ptrdiff_t u = 0; u < units; u++) {
        const float *r = rows + (ptrdiff_t)slot[u] * d;
        const float *su = s + u * lds;
        float *dr = drows + (ptrdiff_t)slot[u] * d;
        for (ptrdiff_t k = 0; k < d; k++) {
            const float *wk = w + ((ptrdiff_t)row0[u] + k) * ldw;
            float *dwk = dw + ((ptrdiff_t)row0[u] + k) * ldw;
            float dot = 0.0f;
            for (ptrdiff_t c = 0; c < n; c++) {
                dwk[c] += r[k] * su[c];
                dot += su[c] * wk[c];
            }
            dr[k] += dot;
        }
    }
}

#if MR_GEMM_HAS_X86
/// Masks of the `nv` vectors of a block of `width` (≤ 64) columns.
#define FOLD_MASKS(width)                                             \
    const __mmask16 m0 = mr_lane_mask(width), m1 = mr_lane_mask((width) - 16), \
                    m2 = mr_lane_mask((width) - 32), m3 = mr_lane_mask((width) - 48)

/// Runs `block(..., nv)` with nv = the vector count (1...4) of a block of `width` ≤ 64 columns,
/// a constant in each call, so every vector count gets its own unrolled body.
#define FOLD_BY_VECTORS(width, block, ...)                          \
    switch (((width) + 15) / 16) {                                  \
    case 1: block(__VA_ARGS__, 1); break;                           \
    case 2: block(__VA_ARGS__, 2); break;                           \
    case 3: block(__VA_ARGS__, 3); break;                           \
    default: block(__VA_ARGS__, 4); break;                          \
    }

/// One block of ≤ 64 columns of every row; `nv` (1...4, a constant after inlining) vectors held
/// in registers across the fields.
MR_AVX512 static inline __attribute__((always_inline)) void
gather_block(ptrdiff_t rows, ptrdiff_t fields, ptrdiff_t width, const float *p, ptrdiff_t ldp, const int32_t *unit,
             const float *bias, float *out, ptrdiff_t ldo, const int nv) {
    FOLD_MASKS(width);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 c0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    const __m512 c1 = bias && nv > 1 ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
    const __m512 c2 = bias && nv > 2 ? _mm512_maskz_loadu_ps(m2, bias + 32) : zero;
    const __m512 c3 = bias && nv > 3 ? _mm512_maskz_loadu_ps(m3, bias + 48) : zero;
    for (ptrdiff_t b = 0; b < rows; b++) {
        float *o = out + b * ldo;
        __m512 a0 = _mm512_add_ps(c0, _mm512_maskz_loadu_ps(m0, o)), a1 = zero, a2 = zero, a3 = zero;
        if (nv > 1) a1 = _mm512_add_ps(c1, _mm512_maskz_loadu_ps(m1, o + 16));
        if (nv > 2) a2 = _mm512_add_ps(c2, _mm512_maskz_loadu_ps(m2, o + 32));
        if (nv > 3) a3 = _mm512_add_ps(c3, _mm512_maskz_loadu_ps(m3, o + 48));
        __m512 e0 = zero, e1 = zero, e2 = zero, e3 = zero;  // odd features: two independent add chains
        const int32_t *ub = unit + b;
        ptrdiff_t f = 0;
        for (; f + 2 <= fields; f += 2) {
            const float *pu = p + (ptrdiff_t)ub[f * rows] * ldp, *pv = p + (ptrdiff_t)ub[(f + 1) * rows] * ldp;
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, pu));
            e0 = _mm512_add_ps(e0, _mm512_maskz_loadu_ps(m0, pv));
            if (nv > 1) { a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, pu + 16)); e1 = _mm512_add_ps(e1, _mm512_maskz_loadu_ps(m1, pv + 16)); }
            if (nv > 2) { a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(m2, pu + 32)); e2 = _mm512_add_ps(e2, _mm512_maskz_loadu_ps(m2, pv + 32)); }
            if (nv > 3) { a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(m3, pu + 48)); e3 = _mm512_add_ps(e3, _mm512_maskz_loadu_ps(m3, pv + 48)); }
        }
        if (f < fields) {
            const float *pu = p + (ptrdiff_t)ub[f * rows] * ldp;
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, pu));
            if (nv > 1) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, pu + 16));
            if (nv > 2) a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(m2, pu + 32));
            if (nv > 3) a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(m3, pu + 48));
        }
        a0 = _mm512_add_ps(a0, e0);
        if (nv > 1) a1 = _mm512_add_ps(a1, e1);
        if (nv > 2) a2 = _mm512_add_ps(a2, e2);
        if (nv > 3) a3 = _mm512_add_ps(a3, e3);
        _mm512_mask_storeu_ps(o, m0, a0);
        if (nv > 1) _mm512_mask_storeu_ps(o + 16, m1, a1);
        if (nv > 2) _mm512_mask_storeu_ps(o + 32, m2, a2);
        if (nv > 3) _mm512_mask_storeu_ps(o + 48, m3, a3);
    }
}

MR_AVX512 static void fold_gather_avx512(ptrdiff_t rows, ptrdiff_t fields, ptrdiff_t n, const float *p, ptrdiff_t ldp,
                                         const int32_t *unit, const float *bias, float *out, ptrdiff_t ldo) {
    for (ptrdiff_t c = 0; c < n; c += 64) {
        const ptrdiff_t width = n - c < 64 ? n - c : 64;
        const float *bc = bias ? bias + c : NULL;
        FOLD_BY_VECTORS(width, gather_block, rows, fields, width, p + c, ldp, unit, bc, out + c, ldo);
    }
}

/// One block of ≤ 64 columns of every unit's sum: a unit's member rows are read (in ascending
/// order) into registers, two rows at a time into separate accumulators so the adds of
/// consecutive rows do not wait on each other; one store per unit.
MR_AVX512 static inline __attribute__((always_inline)) void
sum_block(ptrdiff_t units, ptrdiff_t width, const float *dy, ptrdiff_t ldy, const int32_t *offsets,
          const int32_t *members, float *s, ptrdiff_t lds, const int nv) {
    FOLD_MASKS(width);
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t u = 0; u < units; u++) {
        __m512 a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
        int32_t i = offsets[u];
        const int32_t end = offsets[u + 1];
        for (; i + 2 <= end; i += 2) {
            const float *g = dy + (ptrdiff_t)members[i] * ldy, *h = dy + (ptrdiff_t)members[i + 1] * ldy;
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, g));
            b0 = _mm512_add_ps(b0, _mm512_maskz_loadu_ps(m0, h));
            if (nv > 1) { a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, g + 16)); b1 = _mm512_add_ps(b1, _mm512_maskz_loadu_ps(m1, h + 16)); }
            if (nv > 2) { a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(m2, g + 32)); b2 = _mm512_add_ps(b2, _mm512_maskz_loadu_ps(m2, h + 32)); }
            if (nv > 3) { a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(m3, g + 48)); b3 = _mm512_add_ps(b3, _mm512_maskz_loadu_ps(m3, h + 48)); }
        }
        if (i < end) {
            const float *g = dy + (ptrdiff_t)members[i] * ldy;
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, g));
            if (nv > 1) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, g + 16));
            if (nv > 2) a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(m2, g + 32));
            if (nv > 3) a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(m3, g + 48));
        }
        float *su = s + u * lds;
        _mm512_mask_storeu_ps(su, m0, _mm512_add_ps(a0, b0));
        if (nv > 1) _mm512_mask_storeu_ps(su + 16, m1, _mm512_add_ps(a1, b1));
        if (nv > 2) _mm512_mask_storeu_ps(su + 32, m2, _mm512_add_ps(a2, b2));
        if (nv > 3) _mm512_mask_storeu_ps(su + 48, m3, _mm512_add_ps(a3, b3));
    }
}

MR_AVX512 static void fold_sum_avx512(ptrdiff_t units, ptrdiff_t n, const float *dy, ptrdiff_t ldy, const int32_t *offsets,
                                      const int32_t *members, float *s, ptrdiff_t lds) {
    for (ptrdiff_t c = 0; c < n; c += 64) {
        const ptrdiff_t width = n - c < 64 ? n - c : 64;
        FOLD_BY_VECTORS(width, sum_block, units, width, dy + c, ldy, offsets, members, s + c, lds);
    }
}

/// One block of ≤ 64 columns of every unit's projection; `nv` (1...4, a constant after inlining)
/// vectors, so a gate's few columns take one masked vector, not four.
MR_AVX512 static inline __attribute__((always_inline)) void
project_block(ptrdiff_t units, ptrdiff_t d, ptrdiff_t width, const float *rows, const int32_t *slot,
              const int32_t *row0, const float *w, ptrdiff_t ldw, float *p, ptrdiff_t ldp, const int nv) {
    FOLD_MASKS(width);
    for (ptrdiff_t u = 0; u < units; u++) {
        const float *r = rows + (ptrdiff_t)slot[u] * d;
        const float *wu = w + (ptrdiff_t)row0[u] * ldw;
        float *pu = p + u * ldp;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (ptrdiff_t k = 0; k < d; k++) {
            const __m512 rk = _mm512_set1_ps(r[k]);
            const float *wk = wu + k * ldw;
            a0 = _mm512_fmadd_ps(rk, _mm512_maskz_loadu_ps(m0, wk), a0);
            if (nv > 1) a1 = _mm512_fmadd_ps(rk, _mm512_maskz_loadu_ps(m1, wk + 16), a1);
            if (nv > 2) a2 = _mm512_fmadd_ps(rk, _mm512_maskz_loadu_ps(m2, wk + 32), a2);
            if (nv > 3) a3 = _mm512_fmadd_ps(rk, _mm512_maskz_loadu_ps(m3, wk + 48), a3);
        }
        _mm512_mask_storeu_ps(pu, m0, a0);
        if (nv > 1) _mm512_mask_storeu_ps(pu + 16, m1, a1);
        if (nv > 2) _mm512_mask_storeu_ps(pu + 32, m2, a2);
        if (nv > 3) _mm512_mask_storeu_ps(pu + 48, m3, a3);
    }
}

MR_AVX512 static void fold_project_avx512(ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                          const int32_t *slot, const int32_t *row0, const float *w, ptrdiff_t ldw,
                                          float *p, ptrdiff_t ldp) {
    for (ptrdiff_t c = 0; c < n; c += 64) {
        const ptrdiff_t width = n - c < 64 ? n - c : 64;
        FOLD_BY_VECTORS(width, project_block, units, d, width, rows, slot, row0, w + c, ldw, p + c, ldp);
    }
}

/// The eight sums of v[0..7]'s lanes, in order: halves added, then two rounds of pairwise
/// horizontal adds and one cross-half add (about 20 instructions where eight separate
/// reductions take some 60).
MR_AVX512 static inline __attribute__((always_inline)) __m256 sum8(const __m512 *v) {
    __m256 h[8];
    for (int j = 0; j < 8; j++)
        h[j] = _mm256_add_ps(_mm512_castps512_ps256(v[j]),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[j]), 1)));
    const __m256 a01 = _mm256_hadd_ps(h[0], h[1]), a23 = _mm256_hadd_ps(h[2], h[3]);
    const __m256 a45 = _mm256_hadd_ps(h[4], h[5]), a67 = _mm256_hadd_ps(h[6], h[7]);
    const __m256 b0 = _mm256_hadd_ps(a01, a23), b4 = _mm256_hadd_ps(a45, a67);  // [s0..s3 | s0..s3], halves
    return _mm256_add_ps(_mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b0, b4, 0x31));
}

/// Per unit, the weight rows k in groups of eight: each 16-column vector of S is loaded once
/// for the eight rows' dW updates and dot products, and the eight dots are reduced together.
MR_AVX512 static void fold_backproject_avx512(ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                              const int32_t *slot, const int32_t *row0, const float *s, ptrdiff_t lds,
                                              const float *w, ptrdiff_t ldw, float *dw, float *drows) {
    for (ptrdiff_t u = 0; u < units; u++) {
        const float *r = rows + (ptrdiff_t)slot[u] * d;
        const float *su = s + u * lds;
        float *dr = drows + (ptrdiff_t)slot[u] * d;
        ptrdiff_t k = 0;
        for (; k + 8 <= d; k += 8) {
            const float *wk = w + ((ptrdiff_t)row0[u] + k) * ldw;
            float *dwk = dw + ((ptrdiff_t)row0[u] + k) * ldw;
            __m512 rk[8], dot[8];
            for (int j = 0; j < 8; j++) {
                rk[j] = _mm512_set1_ps(r[k + j]);
                dot[j] = _mm512_setzero_ps();
            }
            for (ptrdiff_t c = 0; c < n; c += 16) {
                const __mmask16 m = mr_lane_mask(n - c);
                const __m512 sv = _mm512_maskz_loadu_ps(m, su + c);
                for (int j = 0; j < 8; j++) {
                    float *target = dwk + j * ldw + c;
                    _mm512_mask_storeu_ps(target, m, _mm512_fmadd_ps(rk[j], sv, _mm512_maskz_loadu_ps(m, target)));
                    dot[j] = _mm512_fmadd_ps(sv, _mm512_maskz_loadu_ps(m, wk + j * ldw + c), dot[j]);
                }
            }
            _mm256_storeu_ps(dr + k, _mm256_add_ps(_mm256_loadu_ps(dr + k), sum8(dot)));
        }
        for (; k < d; k++) {
            const ptrdiff_t row = (ptrdiff_t)row0[u] + k;
            const float *wk = w + row * ldw;
            float *dwk = dw + row * ldw;
            const __m512 rk = _mm512_set1_ps(r[k]);
            __m512 dot = _mm512_setzero_ps();
            for (ptrdiff_t c = 0; c < n; c += 16) {
                const __mmask16 m = mr_lane_mask(n - c);
                const __m512 sv = _mm512_maskz_loadu_ps(m, su + c);
                _mm512_mask_storeu_ps(dwk + c, m, _mm512_fmadd_ps(rk, sv, _mm512_maskz_loadu_ps(m, dwk + c)));
                dot = _mm512_fmadd_ps(sv, _mm512_maskz_loadu_ps(m, wk + c), dot);
            }
            dr[k] += _mm512_reduce_add_ps(dot);
        }
    }
}
#endif

void mr_fold_project_at_level(int level, ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                              const int32_t *slot, const int32_t *row0, const float *w, ptrdiff_t ldw,
                              float *p, ptrdiff_t ldp) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        fold_project_avx512(units, d, n, rows, slot, row0, w, ldw, p, ldp);
        return;
    }
#endif
    fold_project_portable(units, d, n, rows, slot, row0, w, ldw, p, ldp);
}

void mr_fold_gather_at_level(int level, ptrdiff_t rows, ptrdiff_t fields, ptrdiff_t n, const float *p, ptrdiff_t ldp,
                             const int32_t *unit, const float *bias, float *out, ptrdiff_t ldo) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        fold_gather_avx512(rows, fields, n, p, ldp, unit, bias, out, ldo);
        return;
    }
#endif
    fold_gather_portable(rows, fields, n, p, ldp, unit, bias, out, ldo);
}

void mr_fold_sum_at_level(int level, ptrdiff_t units, ptrdiff_t n, const float *dy, ptrdiff_t ldy,
                          const int32_t *offsets, const int32_t *members, float *s, ptrdiff_t lds) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        fold_sum_avx512(units, n, dy, ldy, offsets, members, s, lds);
        return;
    }
#endif
    fold_sum_portable(units, n, dy, ldy, offsets, members, s, lds);
}

void mr_fold_backproject_at_level(int level, ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                  const int32_t *slot, const int32_t *row0, const float *s, ptrdiff_t lds,
                                  const float *w, ptrdiff_t ldw, float *dw, float *drows) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        fold_backproject_avx512(units, d, n, rows, slot, row0, s, lds, w, ldw, dw, drows);
        return;
    }
#endif
    fold_backproject_portable(units, d, n, rows, slot, row0, s, lds, w, ldw, dw, drows);
}
