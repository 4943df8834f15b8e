// Private to CKernels: the blocking parameters and entry points shared by the C files.
#ifndef METAREC_GEMM_INTERNAL_H
#define METAREC_GEMM_INTERNAL_H
#include <stddef.h>

// Register block of the AVX2 micro-kernel: MR rows of C by NR columns (two ymm vectors)
// held in MR * NR / 8 = 12 accumulators, plus 2 registers of B and 1 broadcast of A.
#define MR_GEMM_MR 6
#define MR_GEMM_NR 16
// Cache blocks: a packed B block (KC x NC floats = 256 KiB) stays in L2 while each MR-row
// sliver of A (MR x KC floats = 6 KiB) stays in L1 for a sweep over the block's NR panels.
#define MR_GEMM_KC 256
#define MR_GEMM_NC 256
// A transposed is packed MC rows at a time (MC x KC floats = 96 KiB, in L2): one pass over
// each stored row of A, whose MC floats are contiguous, instead of one cache line per k.
#define MR_GEMM_MC 96

/// The portable kernel (plain loops), mr_sgemm's contract.
void mr_sgemm_portable(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc);

/// The AVX2/FMA kernel. Only call when the CPU supports AVX2 and FMA.
void mr_sgemm_avx2(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                   float alpha, const float *a, ptrdiff_t lda,
                   const float *b, ptrdiff_t ldb,
                   float beta, float *c, ptrdiff_t ldc);

/// The AVX-512 kernel (6x64 tile, gemm_avx512.c). Only call when the CPU supports AVX-512F.
void mr_sgemm_avx512(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                     float alpha, const float *a, ptrdiff_t lda,
                     const float *b, ptrdiff_t ldb,
                     float beta, float *c, ptrdiff_t ldc);

/// The fused ReLU tower forward of the AVX-512 kernel (gemm_avx512.c); only for width <= 64 and
/// k <= MR_GEMM_KC, on a CPU with AVX-512F.
void mr_tower_forward_relu_avx512(const float *x, ptrdiff_t rows, ptrdiff_t k, ptrdiff_t ldx,
                                  const float *w1, ptrdiff_t width, const float *b1,
                                  const float *w2, float b2, float *hidden, ptrdiff_t ldh,
                                  int store_hidden, float *logits);

/// Floats between packed A slivers: MR * kc, plus 2 of padding for 8-wide stores.
#define MR_GEMM_SLIVER_FLOATS(kc) (MR_GEMM_MR * (kc) + 2)
/// Floats in a thread's packing buffer: the B block, then the A block.
#define MR_GEMM_BUFFER_FLOATS \
    (MR_GEMM_KC * MR_GEMM_NC + (MR_GEMM_MC / MR_GEMM_MR) * MR_GEMM_SLIVER_FLOATS(MR_GEMM_KC))

/// This thread's packing buffer of MR_GEMM_BUFFER_FLOATS floats, 64-byte aligned;
/// allocated on the thread's first call, freed at thread exit.
float *mr_gemm_thread_buffer(void);

/// C = beta * C on an (m, n) block; beta == 0 writes zeros (old NaNs are not propagated).
void mr_gemm_scale_c(ptrdiff_t m, ptrdiff_t n, float beta, float *c, ptrdiff_t ldc);

#endif
