// Packing for the AVX2 kernel. op(B) goes into NR-wide panels: panel q holds columns
// [q*NR, q*NR + NR) of a (kc, nc) block at dst + q*kc*NR, row p at offset p*NR, zero-padded
// past nc; a last panel of 8 or fewer columns is packed 8 wide (row p at p*8).
// A transposed goes into MR-tall slivers (see mr_gemm_pack_a_transposed).
// Both layouts of B (plain and transposed) are packed here, so the micro-kernel sees one.
#include "gemm_avx2.h"

#if MR_GEMM_HAS_X86
#include <immintrin.h>

/// Lanes j < count set: a masked load of the first `count` floats (zeros elsewhere).
MR_AVX2 static inline __attribute__((always_inline)) __m256i edge_mask(ptrdiff_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

MR_AVX2 void mr_gemm_pack_b(int trans_b, const float *b, ptrdiff_t ldb,
                            ptrdiff_t kc, ptrdiff_t nc, float *restrict dst) {
    const ptrdiff_t NR = MR_GEMM_NR;
    for (ptrdiff_t j0 = 0; j0 < nc; j0 += NR, dst += kc * NR) {
        const ptrdiff_t nr = nc - j0 < NR ? nc - j0 : NR;
        // The last panel is 8 wide when the N edge leaves 8 or fewer columns (6x8 kernel).
        const ptrdiff_t width = nr <= 8 ? 8 : NR;
        if (!trans_b) {
            // op(B)(p, j) = b[p*ldb + j]: each panel row is a contiguous run of B's row p.
            const float *src = b + j0;
            if (nr == NR) {
                for (ptrdiff_t p = 0; p < kc; ++p) {
                    _mm256_store_ps(dst + p * NR, _mm256_loadu_ps(src + p * ldb));
                    _mm256_store_ps(dst + p * NR + 8, _mm256_loadu_ps(src + p * ldb + 8));
                }
            } else {
                const __m256i lo = edge_mask(nr), hi = edge_mask(nr - 8);
                for (ptrdiff_t p = 0; p < kc; ++p) {
                    _mm256_store_ps(dst + p * width, _mm256_maskload_ps(src + p * ldb, lo));
                    if (width == NR) {
                        _mm256_store_ps(dst + p * width + 8, _mm256_maskload_ps(src + p * ldb + 8, hi));
                    }
                }
            }
        } else if (nr == NR) {
            // op(B)(p, j) = b[j*ldb + p]: B's rows j0..j0+15 become the panel's columns,
            // transposed in 8x8 register blocks; the kc % 8 tail element by element.
            ptrdiff_t p = 0;
            for (; p + 8 <= kc; p += 8) {
                mr_transpose_8x8(b + j0 * ldb + p, ldb, dst + p * NR, NR);
                mr_transpose_8x8(b + (j0 + 8) * ldb + p, ldb, dst + p * NR + 8, NR);
            }
            for (; p < kc; ++p) {
                for (ptrdiff_t j = 0; j < NR; ++j) dst[p * NR + j] = b[(j0 + j) * ldb + p];
            }
        } else {
            // Edge panel: read each source row contiguously, zero the missing columns.
            for (ptrdiff_t j = 0; j < nr; ++j) {
                const float *src = b + (j0 + j) * ldb;
                for (ptrdiff_t p = 0; p < kc; ++p) dst[p * width + j] = src[p];
            }
            for (ptrdiff_t p = 0; p < kc; ++p) {
                for (ptrdiff_t j = nr; j < width; ++j) dst[p * width + j] = 0.0f;
            }
        }
    }
}

MR_AVX2 void mr_gemm_pack_a_transposed(const float *a, ptrdiff_t lda, ptrdiff_t mc, ptrdiff_t kc,
                                       float *restrict dst) {
    const ptrdiff_t MR = MR_GEMM_MR, full = mc / MR, rest = mc % MR;
    const ptrdiff_t stride = MR_GEMM_SLIVER_FLOATS(kc);
    // Row p of the stored A holds op(A)(i0.., p) contiguously: read it once and give each
    // sliver its six floats with one 8-wide move. The two extra floats land where row p + 1
    // goes (rewritten next) or, for the last row, in the sliver's 2 floats of padding.
    // The last full sliver loads 8 floats only when 2 more columns of A exist past it.
    const ptrdiff_t wide = rest >= 2 ? full : full - 1;
    const __m256i restMask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i sixMask = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (ptrdiff_t p = 0; p < kc; ++p) {
        const float *src = a + p * lda;
        float *out = dst + p * MR;
        ptrdiff_t s = 0;
        for (; s < wide; ++s) _mm256_storeu_ps(out + s * stride, _mm256_loadu_ps(src + s * MR));
        for (; s < full; ++s) _mm256_storeu_ps(out + s * stride, _mm256_maskload_ps(src + s * MR, sixMask));
        if (rest) _mm256_storeu_ps(out + full * stride, _mm256_maskload_ps(src + full * MR, restMask));
    }
}
#endif
