// The AVX2/FMA GEMM: BLIS-style blocking around a 6x16 register-blocked micro-kernel.
//
//   for jc in N by NC:                      B block (KC x NC, packed, 256 KiB) lives in L2
//     for pc in K by ~KC (balanced):        beta applies on the first K block only
//       pack op(B)[pc.., jc..] into NR-wide panels
//       for ic in M by MR:                  A sliver (MR x KC) lives in L1
//         for jr in NC by NR:               micro-kernel: C[ic.., jc+jr..] (MR x NR, or MR x 8)
//
// Plain A is read in place: on serving shapes (K <= 256, N <= 128) each A element is used
// only N/8 times, too few to amortise packing it (measured in Sources/TensorCore/README.md).
// Rows past the M edge alias the last valid row (their results are discarded), so no edge
// copy is needed. Transposed A is packed MC rows at a time (sweep_a_transposed). Edge tiles
// use masked loads and stores.
#include "gemm_avx2.h"

#if MR_GEMM_HAS_X86
#include <immintrin.h>

#define MR MR_GEMM_MR
#define NR MR_GEMM_NR

/// Lanes j with j + first < nr set (all ones), the rest clear: the columns of an edge tile.
MR_AVX2 static inline __attribute__((always_inline)) __m256i
column_mask(ptrdiff_t nr, int first) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - first), lane);
}

/// c[0..8) = alpha * acc + beta * c on the lanes in `mask`; beta == 0 never reads c, and
/// lanes outside the mask are neither read nor written.
MR_AVX2 static inline __attribute__((always_inline)) void
update8(float *c, __m256 acc, __m256 va, float beta, int full, __m256i mask) {
    if (full) {
        if (beta == 0.0f) _mm256_storeu_ps(c, _mm256_mul_ps(acc, va));
        else if (beta == 1.0f) _mm256_storeu_ps(c, _mm256_fmadd_ps(acc, va, _mm256_loadu_ps(c)));
        else _mm256_storeu_ps(c, _mm256_fmadd_ps(acc, va, _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c))));
    } else {
        __m256 r = _mm256_mul_ps(acc, va);
        if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, mask), r);
        _mm256_maskstore_ps(c, mask, r);
    }
}

/// Row i of a 16-wide tile: full stores when nr == 16, masked stores on an N edge.
#define UPDATE_ROW16(i, lo, hi)                                                       \
    if (mr > i) {                                                                     \
        update8(c + i * ldc, lo, va, beta, full, mlo);                                \
        update8(c + i * ldc + 8, hi, va, beta, full, mhi);                            \
    }

/// C[0..mr, 0..nr] = alpha * A(mr, kc) * Bpanel(kc, 16) + beta * C, 12 ymm accumulators.
/// A element (i, p) is a[i*rsa + p*csa] for i < arows; rows from arows to MR alias row
/// arows - 1 (computed, never stored). Inlined with constant strides per layout.
MR_AVX2 static inline __attribute__((always_inline)) void
micro_6x16(ptrdiff_t kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, ptrdiff_t arows, ptrdiff_t mr,
           const float *restrict bp, float alpha, float beta,
           float *c, ptrdiff_t ldc, ptrdiff_t nr) {
    const float *a0 = a;
    const float *a1 = a + (arows > 1 ? 1 : arows - 1) * rsa;
    const float *a2 = a + (arows > 2 ? 2 : arows - 1) * rsa;
    const float *a3 = a + (arows > 3 ? 3 : arows - 1) * rsa;
    const float *a4 = a + (arows > 4 ? 4 : arows - 1) * rsa;
    const float *a5 = a + (arows > 5 ? 5 : arows - 1) * rsa;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    ptrdiff_t off = 0;
#pragma clang loop unroll_count(4)
    for (ptrdiff_t p = 0; p < kc; ++p, off += csa, bp += NR) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a0 + off);
        c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + off);
        c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + off);
        c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + off);
        c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a4 + off);
        c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a5 + off);
        c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const int full = nr == NR;
    const __m256i mlo = column_mask(nr, 0), mhi = column_mask(nr, 8);
    UPDATE_ROW16(0, c00, c01) UPDATE_ROW16(1, c10, c11) UPDATE_ROW16(2, c20, c21)
    UPDATE_ROW16(3, c30, c31) UPDATE_ROW16(4, c40, c41) UPDATE_ROW16(5, c50, c51)
}

/// The last panel of an N edge with nr <= 8 (packed 8 wide): as micro_6x16 on one ymm
/// column, with even and odd k in separate accumulators so 12 FMA chains stay in flight.
MR_AVX2 static inline __attribute__((always_inline)) void
micro_6x8(ptrdiff_t kc, const float *a, ptrdiff_t rsa, ptrdiff_t csa, ptrdiff_t arows, ptrdiff_t mr,
          const float *restrict bp, float alpha, float beta,
          float *c, ptrdiff_t ldc, ptrdiff_t nr) {
    const float *a0 = a;
    const float *a1 = a + (arows > 1 ? 1 : arows - 1) * rsa;
    const float *a2 = a + (arows > 2 ? 2 : arows - 1) * rsa;
    const float *a3 = a + (arows > 3 ? 3 : arows - 1) * rsa;
    const float *a4 = a + (arows > 4 ? 4 : arows - 1) * rsa;
    const float *a5 = a + (arows > 5 ? 5 : arows - 1) * rsa;
    __m256 e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps(), e2 = _mm256_setzero_ps();
    __m256 e3 = _mm256_setzero_ps(), e4 = _mm256_setzero_ps(), e5 = _mm256_setzero_ps();
    __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps(), o2 = _mm256_setzero_ps();
    __m256 o3 = _mm256_setzero_ps(), o4 = _mm256_setzero_ps(), o5 = _mm256_setzero_ps();
    ptrdiff_t off = 0, p = 0;
    for (; p + 2 <= kc; p += 2, off += 2 * csa, bp += 16) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        e0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + off), b0, e0);
        e1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + off), b0, e1);
        e2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + off), b0, e2);
        e3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + off), b0, e3);
        e4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + off), b0, e4);
        e5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + off), b0, e5);
        o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + off + csa), b1, o0);
        o1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + off + csa), b1, o1);
        o2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + off + csa), b1, o2);
        o3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + off + csa), b1, o3);
        o4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + off + csa), b1, o4);
        o5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + off + csa), b1, o5);
    }
    if (p < kc) {
        const __m256 b0 = _mm256_load_ps(bp);
        e0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + off), b0, e0);
        e1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + off), b0, e1);
        e2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + off), b0, e2);
        e3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + off), b0, e3);
        e4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + off), b0, e4);
        e5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + off), b0, e5);
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const int full = nr == 8;
    const __m256i mask = column_mask(nr, 0);
    if (mr > 0) update8(c + 0 * ldc, _mm256_add_ps(e0, o0), va, beta, full, mask);
    if (mr > 1) update8(c + 1 * ldc, _mm256_add_ps(e1, o1), va, beta, full, mask);
    if (mr > 2) update8(c + 2 * ldc, _mm256_add_ps(e2, o2), va, beta, full, mask);
    if (mr > 3) update8(c + 3 * ldc, _mm256_add_ps(e3, o3), va, beta, full, mask);
    if (mr > 4) update8(c + 4 * ldc, _mm256_add_ps(e4, o4), va, beta, full, mask);
    if (mr > 5) update8(c + 5 * ldc, _mm256_add_ps(e5, o5), va, beta, full, mask);
}

/// One MR-row sliver against every panel of a packed B block: 16-wide panels, and an
/// 8-wide last panel when the N edge leaves 8 or fewer columns.
#define SWEEP_PANELS(A, RSA, CSA, AROWS, MRV, CROW)                                          \
    for (ptrdiff_t jr = 0; jr < nc; jr += NR) {                                              \
        const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;                                    \
        if (nr > 8) {                                                                        \
            micro_6x16(kc, A, RSA, CSA, AROWS, MRV, bp + jr * kc, alpha, beta, CROW + jr, ldc, nr); \
        } else {                                                                             \
            micro_6x8(kc, A, RSA, CSA, AROWS, MRV, bp + jr * kc, alpha, beta, CROW + jr, ldc, nr);  \
        }                                                                                    \
    }

/// All MR x NR tiles of one packed (kc, nc) block of B, A not transposed:
/// A(i, p) = a[i*lda + p], so a sliver's rows are contiguous in p.
MR_AVX2 __attribute__((noinline)) static void
sweep_a_plain(ptrdiff_t m, ptrdiff_t nc, ptrdiff_t kc, float alpha, const float *a, ptrdiff_t lda,
              const float *bp, float beta, float *c, ptrdiff_t ldc) {
    for (ptrdiff_t ic = 0; ic < m; ic += MR) {
        const ptrdiff_t mr = m - ic < MR ? m - ic : MR;
        SWEEP_PANELS(a + ic * lda, lda, 1, mr, mr, c + ic * ldc)
    }
}

/// As sweep_a_plain with A transposed: A is stored (k, m), A(i, p) = a[p*lda + i]. Read in
/// place, a sliver's kc floats per row lie lda apart, one cache line each (which thrash L1
/// sets when lda is a multiple of 1 KiB); packing MC rows at a time reads A row by row.
MR_AVX2 __attribute__((noinline)) static void
sweep_a_transposed(ptrdiff_t m, ptrdiff_t nc, ptrdiff_t kc, float alpha, const float *a,
                   ptrdiff_t lda, const float *bp, float beta, float *c, ptrdiff_t ldc,
                   float *ablock) {
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MR_GEMM_MC) {
        const ptrdiff_t mc = m - i0 < MR_GEMM_MC ? m - i0 : MR_GEMM_MC;
        mr_gemm_pack_a_transposed(a + i0, lda, mc, kc, ablock);
        for (ptrdiff_t ic = 0; ic < mc; ic += MR) {
            const ptrdiff_t mr = mc - ic < MR ? mc - ic : MR;
            const float *sliver = ablock + (ic / MR) * MR_GEMM_SLIVER_FLOATS(kc);
            SWEEP_PANELS(sliver, 1, MR, MR, mr, c + (i0 + ic) * ldc)
        }
    }
}

MR_AVX2 void mr_sgemm_avx2(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                           float alpha, const float *a, ptrdiff_t lda,
                           const float *b, ptrdiff_t ldb,
                           float beta, float *c, ptrdiff_t ldc) {
    float *bp = mr_gemm_thread_buffer();
    // Equal K blocks no longer than KC, so a K of 257 is two blocks of 129, not 256 + 1.
    const ptrdiff_t kblocks = (k + MR_GEMM_KC - 1) / MR_GEMM_KC;
    const ptrdiff_t kstep = (k + kblocks - 1) / kblocks;
    for (ptrdiff_t jc = 0; jc < n; jc += MR_GEMM_NC) {
        const ptrdiff_t nc = n - jc < MR_GEMM_NC ? n - jc : MR_GEMM_NC;
        for (ptrdiff_t pc = 0; pc < k; pc += kstep) {
            const ptrdiff_t kc = k - pc < kstep ? k - pc : kstep;
            const float blockBeta = pc == 0 ? beta : 1.0f;
            mr_gemm_pack_b(trans_b, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, bp);
            if (!trans_a) {
                sweep_a_plain(m, nc, kc, alpha, a + pc, lda, bp, blockBeta, c + jc, ldc);
            } else {
                sweep_a_transposed(m, nc, kc, alpha, a + pc * lda, lda, bp, blockBeta, c + jc, ldc,
                                   bp + MR_GEMM_KC * MR_GEMM_NC);
            }
        }
    }
}
#endif
