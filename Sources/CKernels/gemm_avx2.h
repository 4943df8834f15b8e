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
