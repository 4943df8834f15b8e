// Private to CKernels: declarations shared by the AVX-512 kernel's files.
#ifndef METAREC_GEMM_AVX512_H
#define METAREC_GEMM_AVX512_H
#include "gemm_avx2.h"

// Per-function target: only these functions use AVX-512F (which implies AVX2 and FMA, so
// they may call the AVX2 packing routines); callers check the CPU first.
#define MR_AVX512 __attribute__((target("avx512f,avx2,fma")))

// Register block of the AVX-512 micro-kernel: MR_GEMM_MR (6) rows of C by up to 64 columns
// (four zmm vectors) held in 24 accumulators, plus 4 registers of B; A is broadcast straight
// from memory into the FMAs. The row count is the AVX2 kernel's, so a transposed A is packed
// by the same routine (mr_gemm_pack_a_transposed).
#define MR_GEMM_NR512 64

#if MR_GEMM_HAS_X86
#include <immintrin.h>

/// Lanes 0..<count set (count clamped to 0...16): the columns of an edge vector.
static inline __mmask16 mr_lane_mask(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1u);
}

/// Packs the (kc, nc) block of a transposed B (op(B)(p, j) = b[j*ldb + p], b already offset to
/// the block's origin) into ceil(nc / 64) panels, panel q at dst + q*kc*64: a panel of width w
/// (64, or nc - 64q rounded up to 16 for the last) holds op(B)(p, 64q + j) at p*w + j,
/// zero-padded past nc. dst is 64-byte aligned.
MR_AVX512 void mr_gemm_pack_b_transposed_512(const float *b, ptrdiff_t ldb, ptrdiff_t kc,
                                             ptrdiff_t nc, float *restrict dst);
#endif
#endif
