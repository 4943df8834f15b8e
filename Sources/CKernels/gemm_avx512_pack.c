// Packing for the AVX-512 kernel: a transposed B into 64-wide panels (see gemm_avx512.h).
// A plain B is read in place and a transposed A is packed by the AVX2 routine, so this is the
// only layout of its own.
#include "gemm_avx512.h"

#if MR_GEMM_HAS_X86
MR_AVX512 void mr_gemm_pack_b_transposed_512(const float *b, ptrdiff_t ldb, ptrdiff_t kc,
                                             ptrdiff_t nc, float *restrict dst) {
    for (ptrdiff_t j0 = 0; j0 < nc; j0 += MR_GEMM_NR512, dst += kc * MR_GEMM_NR512) {
        const ptrdiff_t nr = nc - j0 < MR_GEMM_NR512 ? nc - j0 : MR_GEMM_NR512;
        const ptrdiff_t width = (nr + 15) / 16 * 16;
        // Columns in whole groups of 8: B's rows j0+j.. become panel columns by 8x8 register
        // transposes, the kc % 8 tail element by element.
        const ptrdiff_t blocked = nr / 8 * 8;
        ptrdiff_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            for (ptrdiff_t j = 0; j < blocked; j += 8) {
                mr_transpose_8x8(b + (j0 + j) * ldb + p, ldb, dst + p * width + j, width);
            }
        }
        for (; p < kc; ++p) {
            for (ptrdiff_t j = 0; j < blocked; ++j) dst[p * width + j] = b[(j0 + j) * ldb + p];
        }
        // The last nr % 8 columns read their source rows contiguously; the padding is zero.
        for (ptrdiff_t j = blocked; j < nr; ++j) {
            const float *src = b + (j0 + j) * ldb;
            for (ptrdiff_t q = 0; q < kc; ++q) dst[q * width + j] = src[q];
        }
        if (nr < width) {
            for (ptrdiff_t q = 0; q < kc; ++q) {
                for (ptrdiff_t j = nr; j < width; ++j) dst[q * width + j] = 0.0f;
            }
        }
    }
}
#endif
