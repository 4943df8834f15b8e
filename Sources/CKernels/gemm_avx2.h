// Private to CKernels: declarations shared by the AVX2 kernel's files.
#ifndef METAREC_GEMM_AVX2_H
#define METAREC_GEMM_AVX2_H
#include "gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define MR_GEMM_HAS_X86 1
#else
#define MR_GEMM_HAS_X86 0
#endif

// Per-function target: only these functions use AVX2/FMA; callers check the CPU first.
#define MR_AVX2 __attribute__((target("avx2,fma")))

#if MR_GEMM_HAS_X86
#include <immintrin.h>

/// dst[t*lddst + r] = src[r*lds + t] for r, t in 0..<8: eight rows of src become eight columns
/// (dst 32-byte aligned, lddst a multiple of 8).
MR_AVX2 static inline __attribute__((always_inline)) void
mr_transpose_8x8(const float *src, ptrdiff_t lds, float *dst, ptrdiff_t lddst) {
    __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_store_ps(dst + 0 * lddst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_store_ps(dst + 1 * lddst, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_store_ps(dst + 2 * lddst, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_store_ps(dst + 3 * lddst, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_store_ps(dst + 4 * lddst, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_store_ps(dst + 5 * lddst, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_store_ps(dst + 6 * lddst, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_store_ps(dst + 7 * lddst, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/// Packs the (kc, nc) block of op(B) starting at b (already offset to the block's origin)
/// into ceil(nc / NR) panels of kc * NR floats at dst (64-byte aligned); a last panel with
/// 8 or fewer columns is packed 8 wide.
MR_AVX2 void mr_gemm_pack_b(int trans_b, const float *b, ptrdiff_t ldb,
                            ptrdiff_t kc, ptrdiff_t nc, float *restrict dst);

/// Packs rows [0, mc) of a transposed A (A(i, p) = a[p*lda + i], k extent kc) into
/// ceil(mc / MR) slivers, MR_GEMM_SLIVER_FLOATS(kc) apart: sliver s holds A(s*MR + i, p)
/// at p*MR + i, zero-padded past mc.
MR_AVX2 void mr_gemm_pack_a_transposed(const float *a, ptrdiff_t lda, ptrdiff_t mc, ptrdiff_t kc,
                                       float *restrict dst);
#endif
#endif
