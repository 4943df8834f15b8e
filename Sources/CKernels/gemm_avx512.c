// The AVX-512 GEMM: the AVX2 kernel's blocking (gemm_avx2.c) around a 6x64 micro-kernel.
//
//   for jc in N by NC:                      256 columns of C
//     for pc in K by ~KC (balanced):        beta applies on the first K block only
//       B transposed: pack op(B)[pc.., jc..] into 64-wide panels (256 KiB, in L2)
//       for ic in M by MR:                  A sliver (MR x KC) lives in L1
//         for jr in NC by 64:               micro-kernel: C[ic.., jc+jr..] (MR x up to 64)
//
// Plain B is read in place: a panel row is 64 contiguous floats of a row of B, so packing it
// would only copy it (on the serving shapes, K = N = 64, the copy was the size of the multiply's
// own B traffic). Only a transposed B, whose panel columns lie ldb apart, is packed. The N edge
// runs 1-3 vectors with a lane mask on the last one (masked loads read nothing past the edge);
// A is handled as in the AVX2 kernel (plain in place with rows past the M edge aliasing the last
// valid row, transposed packed MC rows at a time).
#include "gemm_avx512.h"

#if MR_GEMM_HAS_X86
#include <immintrin.h>

#define MR MR_GEMM_MR
#define NR MR_GEMM_NR512

/// c[lanes in m] = alpha * acc + beta * c; beta == 0 never reads c.
MR_AVX512 static inline __attribute__((always_inline)) void
update16(float *c, __m512 acc, __m512 va, float beta, __mmask16 m) {
    __m512 r;
    if (beta == 0.0f) r = _mm512_mul_ps(acc, va);
    else if (beta == 1.0f) r = _mm512_fmadd_ps(acc, va, _mm512_maskz_loadu_ps(m, c));
    else r = _mm512_fmadd_ps(acc, va, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c)));
    _mm512_mask_storeu_ps(c, m, r);
}

/// acc[i][v] = sum_p A(i, p) * B(p, 16v..16v+16) for i < tile_rows, v < nv (tile_rows * nv
/// accumulators): A(i, p) = a[i*rsa + p*csa] for i < arows (rows from arows to tile_rows alias
/// row arows - 1: computed, never stored); B(p, j) = b[p*ldb + j], its last vector read with the
/// mask `last`. Inlined with constant tile_rows (MR, or 4 and 2 for short edges), nv (1-4) and
/// strides, so acc lives in registers.
MR_AVX512 static inline __attribute__((always_inline)) void
accumulate_rxv(const int tile_rows, const int nv, ptrdiff_t kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
               ptrdiff_t arows, const float *b, ptrdiff_t ldb, __mmask16 last, __m512 acc[MR][4]) {
    const float *row[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) row[i] = a + (arows > i ? i : arows - 1) * rsa;
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
#pragma clang loop unroll(full)
        for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_setzero_ps();
    }
    ptrdiff_t off = 0;
    for (ptrdiff_t p = 0; p < kc; ++p, off += csa, b += ldb) {
        __m512 bv[4];
#pragma clang loop unroll(full)
        for (int v = 0; v < 4; ++v) {
            if (v < nv - 1) bv[v] = _mm512_loadu_ps(b + 16 * v);
            else if (v == nv - 1) bv[v] = _mm512_maskz_loadu_ps(last, b + 16 * v);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; ++i) {
            if (i >= tile_rows) break;
            const __m512 x = _mm512_set1_ps(row[i][off]);
#pragma clang loop unroll(full)
            for (int v = 0; v < 4; ++v) {
                if (v < nv) acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]);
            }
        }
    }
}

/// C[0..mr, 0..16*nv) (lanes of the last vector limited by `last`) = alpha * A(MR, kc) *
/// B(kc, 16*nv) + beta * C, accumulated by accumulate_rxv in a tile of tile_rows >= mr rows.
MR_AVX512 static inline __attribute__((always_inline)) void
micro_rxv(const int tile_rows, const int nv, ptrdiff_t kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, ptrdiff_t arows,
          ptrdiff_t mr, const float *b, ptrdiff_t ldb, __mmask16 last, float alpha, float beta,
          float *c, ptrdiff_t ldc) {
    __m512 acc[MR][4];
    accumulate_rxv(tile_rows, nv, kc, a, rsa, csa, arows, b, ldb, last, acc);
    const __m512 va = _mm512_set1_ps(alpha);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
        if (i >= tile_rows || i >= mr) break;
#pragma clang loop unroll(full)
        for (int v = 0; v < 4; ++v) {
            if (v < nv) update16(c + i * ldc + 16 * v, acc[i][v], va, beta, v == nv - 1 ? last : 0xFFFF);
        }
    }
}

/// As micro_rxv for one vector of columns (nr <= 16), with even and odd k in separate
/// accumulators so 12 FMA chains stay in flight instead of 6.
MR_AVX512 static inline __attribute__((always_inline)) void
micro_rx16(const int tile_rows, ptrdiff_t kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, ptrdiff_t arows,
           ptrdiff_t mr, const float *b, ptrdiff_t ldb, __mmask16 last, float alpha, float beta,
           float *c, ptrdiff_t ldc) {
    const float *row[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) row[i] = a + (arows > i ? i : arows - 1) * rsa;
    __m512 even[MR], odd[MR];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) even[i] = odd[i] = _mm512_setzero_ps();
    ptrdiff_t off = 0, p = 0;
    for (; p + 2 <= kc; p += 2, off += 2 * csa, b += 2 * ldb) {
        const __m512 b0 = _mm512_maskz_loadu_ps(last, b), b1 = _mm512_maskz_loadu_ps(last, b + ldb);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; ++i) {
            if (i >= tile_rows) break;
            even[i] = _mm512_fmadd_ps(_mm512_set1_ps(row[i][off]), b0, even[i]);
            odd[i] = _mm512_fmadd_ps(_mm512_set1_ps(row[i][off + csa]), b1, odd[i]);
        }
    }
    if (p < kc) {
        const __m512 b0 = _mm512_maskz_loadu_ps(last, b);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; ++i) {
            if (i >= tile_rows) break;
            even[i] = _mm512_fmadd_ps(_mm512_set1_ps(row[i][off]), b0, even[i]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
        if (i >= tile_rows || i >= mr) break;
        update16(c + i * ldc, _mm512_add_ps(even[i], odd[i]), va, beta, last);
    }
}

/// One TR-row tile (TR = MR, or 4 or 2 for a short last sliver: a 6-row tile there computes
/// rows it throws away) against every 64-wide panel of a (kc, nc) block of B: panel q starts at
/// b + q*pstride, its rows ldb apart (packed: ldb is the panel's width).
#define SWEEP_PANELS_TR(TR, A, RSA, CSA, AROWS, MRV, CROW)                                         \
    for (ptrdiff_t jr = 0, q = 0; jr < nc; jr += NR, ++q) {                                        \
        const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;                                          \
        const ptrdiff_t nv = (nr + 15) / 16;                                                       \
        const __mmask16 last = mr_lane_mask(nr - 16 * (nv - 1));                                      \
        const float *panel = b + q * pstride;                                                      \
        const ptrdiff_t ld = packed ? 16 * nv : ldb;                                               \
        switch (nv) {                                                                              \
        case 4: micro_rxv(TR, 4, kc, A, RSA, CSA, AROWS, MRV, panel, ld, last, alpha, beta, CROW + jr, ldc); break; \
        case 3: micro_rxv(TR, 3, kc, A, RSA, CSA, AROWS, MRV, panel, ld, last, alpha, beta, CROW + jr, ldc); break; \
        case 2: micro_rxv(TR, 2, kc, A, RSA, CSA, AROWS, MRV, panel, ld, last, alpha, beta, CROW + jr, ldc); break; \
        default: micro_rx16(TR, kc, A, RSA, CSA, AROWS, MRV, panel, ld, last, alpha, beta, CROW + jr, ldc); break;  \
        }                                                                                          \
    }

/// One sliver of MRV <= MR valid rows against every panel, in the smallest tile that holds it.
#define SWEEP_PANELS_512(A, RSA, CSA, AROWS, MRV, CROW)                                            \
    do {                                                                                           \
        if ((MRV) > 4) { SWEEP_PANELS_TR(MR, A, RSA, CSA, AROWS, MRV, CROW) }                      \
        else if ((MRV) > 2) { SWEEP_PANELS_TR(4, A, RSA, CSA, AROWS, MRV, CROW) }                  \
        else { SWEEP_PANELS_TR(2, A, RSA, CSA, AROWS, MRV, CROW) }                                 \
    } while (0)

/// All MR x 64 tiles of one (kc, nc) block, A not transposed (A(i, p) = a[i*lda + p]).
/// B is in place (packed == 0: panel q at b + 64q, rows ldb apart) or packed (panel q at
/// b + q*kc*64, rows as wide as the panel).
MR_AVX512 __attribute__((noinline)) static void
sweep_a_plain(ptrdiff_t m, ptrdiff_t nc, ptrdiff_t kc, float alpha, const float *a, ptrdiff_t lda,
              const float *b, ptrdiff_t ldb, int packed, float beta, float *c, ptrdiff_t ldc) {
    const ptrdiff_t pstride = packed ? kc * NR : NR;
    for (ptrdiff_t ic = 0; ic < m; ic += MR) {
        const ptrdiff_t mr = m - ic < MR ? m - ic : MR;
        SWEEP_PANELS_512(a + ic * lda, lda, 1, mr, mr, c + ic * ldc);
    }
}

/// As sweep_a_plain with A transposed (stored (k, m), A(i, p) = a[p*lda + i]). With one panel
/// (nc <= 64) every element of A is used by one micro-kernel call only, so A is read in place:
/// a sliver's MR floats at each p are contiguous, so packing would be a copy used once (the
/// gain is measured in Sources/TensorCore/README.md).
/// Otherwise A is packed MC rows at a time into MR-tall slivers by the AVX2 kernel's routine
/// (gemm_avx2.c): with more panels each sliver is reused, and with one 16-wide panel and
/// M > 256 the in-place reads of a large A lost (M 1024: 1.7x -> 1.2x OpenBLAS).
MR_AVX512 __attribute__((noinline)) static void
sweep_a_transposed(ptrdiff_t m, ptrdiff_t nc, ptrdiff_t kc, float alpha, const float *a, ptrdiff_t lda,
                   const float *b, ptrdiff_t ldb, int packed, float beta, float *c, ptrdiff_t ldc,
                   float *ablock) {
    const ptrdiff_t pstride = packed ? kc * NR : NR;
    if (nc <= NR && (nc > 16 || m <= 256)) {
        for (ptrdiff_t ic = 0; ic < m; ic += MR) {
            const ptrdiff_t mr = m - ic < MR ? m - ic : MR;
            SWEEP_PANELS_512(a + ic, 1, lda, mr, mr, c + ic * ldc);
        }
        return;
    }
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MR_GEMM_MC) {
        const ptrdiff_t mc = m - i0 < MR_GEMM_MC ? m - i0 : MR_GEMM_MC;
        mr_gemm_pack_a_transposed(a + i0, lda, mc, kc, ablock);
        for (ptrdiff_t ic = 0; ic < mc; ic += MR) {
            const ptrdiff_t mr = mc - ic < MR ? mc - ic : MR;
            const float *sliver = ablock + (ic / MR) * MR_GEMM_SLIVER_FLOATS(kc);
            SWEEP_PANELS_512(sliver, 1, MR, MR, mr, c + (i0 + ic) * ldc);
        }
    }
}

MR_AVX512 void mr_sgemm_avx512(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                               float alpha, const float *a, ptrdiff_t lda,
                               const float *b, ptrdiff_t ldb,
                               float beta, float *c, ptrdiff_t ldc) {
    float *buffer = mr_gemm_thread_buffer();
    const ptrdiff_t kblocks = (k + MR_GEMM_KC - 1) / MR_GEMM_KC;
    const ptrdiff_t kstep = (k + kblocks - 1) / kblocks;
    for (ptrdiff_t jc = 0; jc < n; jc += MR_GEMM_NC) {
        const ptrdiff_t nc = n - jc < MR_GEMM_NC ? n - jc : MR_GEMM_NC;
        for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
            const ptrdiff_t kc = k - pc < kstep ? k - pc : kstep;
            const float blockBeta = pc == 0 ? beta : 1.0f;
            const float *block;
            ptrdiff_t ld;
            if (trans_b) {
                mr_gemm_pack_b_transposed_512(b + jc * ldb + pc, ldb, kc, nc, buffer);
                block = buffer;
                ld = 0;
            } else {
                block = b + pc * ldb + jc;
                ld = ldb;
            }
            if (!trans_a) {
                sweep_a_plain(m, nc, kc, alpha, a + pc, lda, block, ld, trans_b, blockBeta, c + jc, ldc);
            } else {
                sweep_a_transposed(m, nc, kc, alpha, a + pc * lda, lda, block, ld, trans_b, blockBeta,
                                   c + jc, ldc, buffer + MR_GEMM_KC * MR_GEMM_NC);
            }
        }
    }
}

/// One tile of tower_sweep_512: rows [0, mr) of x (mr <= tile_rows) through the multiply, bias,
/// ReLU and the logit.
MR_AVX512 static inline __attribute__((always_inline)) void
tower_tile_512(const int tile_rows, const int nv, const float *x, ptrdiff_t mr, ptrdiff_t k, ptrdiff_t ldx,
               const float *w1, ptrdiff_t width, __mmask16 last, const __m512 bias[4], const __m512 weight[4],
               float b2, float *hidden, ptrdiff_t ldh, int store_hidden, float *logits) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 acc[MR][4];
    accumulate_rxv(tile_rows, nv, k, x, ldx, 1, mr, w1, width, last, acc);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; ++i) {
        if (i >= tile_rows || i >= mr) break;
        __m512 dot = zero;
#pragma clang loop unroll(full)
        for (int v = 0; v < 4; ++v) {
            if (v < nv) {
                // Masked-off lanes hold 0 in bias and weight, and acc is 0 there unless x holds
                // inf or NaN (inf * 0); max_ps returns its second operand (0) for a NaN, so those
                // lanes still add nothing. Keep the operand order: ReLU(NaN) is 0 at every level.
                const __m512 h = _mm512_max_ps(_mm512_add_ps(acc[i][v], bias[v]), zero);
                if (store_hidden) {
                    _mm512_mask_storeu_ps(hidden + i * ldh + 16 * v, v == nv - 1 ? last : 0xFFFF, h);
                }
                dot = _mm512_fmadd_ps(h, weight[v], dot);
            }
        }
        logits[i] = b2 + _mm512_reduce_add_ps(dot);
    }
}

/// A tower's forward pass H -> T -> 1 with the hidden tile kept in registers from the multiply
/// to the logit (see mr_tower_forward_fused_at_level in CKernels.h): per MR-row sliver, acc = x.W1 (6 x T, T <= 64),
/// then hidden = max(acc + b1, 0) (stored only when store_hidden) and logit = b2 + hidden . w2.
/// The last sliver of 1-2 or 3-4 rows runs a 2- or 4-row tile (a 6-row tile there computes
/// rows it throws away: 2 of 18 on 16 support rows). ReLU only; the caller checks T <= 64 and
/// k <= MR_GEMM_KC.
MR_AVX512 static inline __attribute__((always_inline)) void
tower_sweep_512(const int nv, const float *x, ptrdiff_t rows, ptrdiff_t k, ptrdiff_t ldx,
                const float *w1, ptrdiff_t width, const float *b1, const float *w2, float b2,
                float *hidden, ptrdiff_t ldh, int store_hidden, float *logits) {
    const __mmask16 last = mr_lane_mask(width - 16 * (nv - 1));
    __m512 bias[4], weight[4];
#pragma clang loop unroll(full)
    for (int v = 0; v < 4; ++v) {
        if (v < nv) {
            const __mmask16 m = v == nv - 1 ? last : (__mmask16)0xFFFF;
            bias[v] = _mm512_maskz_loadu_ps(m, b1 + 16 * v);
            weight[v] = _mm512_maskz_loadu_ps(m, w2 + 16 * v);
        }
    }
    ptrdiff_t ic = 0;
    for (; ic + MR <= rows; ic += MR) {
        tower_tile_512(MR, nv, x + ic * ldx, MR, k, ldx, w1, width, last, bias, weight, b2,
                       hidden + ic * ldh, ldh, store_hidden, logits + ic);
    }
    const ptrdiff_t mr = rows - ic;
    if (mr <= 0) return;
    if (mr <= 2) {
        tower_tile_512(2, nv, x + ic * ldx, mr, k, ldx, w1, width, last, bias, weight, b2,
                       hidden + ic * ldh, ldh, store_hidden, logits + ic);
    } else if (mr <= 4) {
        tower_tile_512(4, nv, x + ic * ldx, mr, k, ldx, w1, width, last, bias, weight, b2,
                       hidden + ic * ldh, ldh, store_hidden, logits + ic);
    } else {
        tower_tile_512(MR, nv, x + ic * ldx, mr, k, ldx, w1, width, last, bias, weight, b2,
                       hidden + ic * ldh, ldh, store_hidden, logits + ic);
    }
}

MR_AVX512 void mr_tower_forward_relu_avx512(const float *x, ptrdiff_t rows, ptrdiff_t k, ptrdiff_t ldx,
                                            const float *w1, ptrdiff_t width, const float *b1,
                                            const float *w2, float b2, float *hidden, ptrdiff_t ldh,
                                            int store_hidden, float *logits) {
    switch ((width + 15) / 16) {
    case 4: tower_sweep_512(4, x, rows, k, ldx, w1, width, b1, w2, b2, hidden, ldh, store_hidden, logits); break;
    case 3: tower_sweep_512(3, x, rows, k, ldx, w1, width, b1, w2, b2, hidden, ldh, store_hidden, logits); break;
    case 2: tower_sweep_512(2, x, rows, k, ldx, w1, width, b1, w2, b2, hidden, ldh, store_hidden, logits); break;
    default: tower_sweep_512(1, x, rows, k, ldx, w1, width, b1, w2, b2, hidden, ldh, store_hidden, logits); break;
    }
}
#endif
