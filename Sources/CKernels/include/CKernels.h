#ifndef METAREC_CKERNELS_H
#define METAREC_CKERNELS_H
// Hand-written kernels for small and skinny shapes, where a BLAS call's fixed cost
// (argument checks, operand packing) dominates. Row-major throughout.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// C = alpha * op(A) * op(B) + beta * C, row-major.
/// op(A) is (m, k): A is (m, k) with row stride lda, or (k, m) when trans_a != 0.
/// op(B) is (k, n): B is (k, n) with row stride ldb, or (n, k) when trans_b != 0.
/// C is (m, n) with row stride ldc. beta == 0 overwrites C (NaNs in C are not propagated).
/// Uses an AVX2/FMA register-blocked kernel when the CPU has it, a portable one otherwise.
/// Thread-safe; after a thread's first call it allocates nothing (one packing buffer per thread).
void mr_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
              float alpha, const float *a, ptrdiff_t lda,
              const float *b, ptrdiff_t ldb,
              float beta, float *c, ptrdiff_t ldc);

/// 1 when the AVX2/FMA kernel is in use on this CPU, 0 when the portable one is.
int mr_sgemm_uses_avx2(void);

/// The portable fallback of mr_sgemm (same contract), callable directly so tests cover it
/// on AVX2 machines too.
void mr_sgemm_portable(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc);

/// FMA-throughput loop for measuring the single-core peak: `iterations` rounds of
/// mr_fma_peak_flops_per_iteration() flops in independent FMA chains (AVX2/FMA when the CPU
/// has it, scalar otherwise). Returns a value derived from the accumulators so the work
/// cannot be optimised away.
float mr_fma_peak_loop(long iterations);

/// Flops performed by one iteration of mr_fma_peak_loop on this CPU.
long mr_fma_peak_flops_per_iteration(void);

/// CPU time consumed so far by the calling thread, in seconds (clock_gettime with
/// CLOCK_THREAD_CPUTIME_ID: monotonic for the thread, excludes time it was descheduled).
double mr_thread_cpu_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
