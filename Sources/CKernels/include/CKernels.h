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


/// Activations of mr_tower_head_*: max(x, 0) and tanh(x).
#define MR_TOWER_RELU 0
#define MR_TOWER_TANH 1

/// The hidden layer's bias and activation and the logit of a tower H -> T -> 1, one pass over
/// the (rows, width) hidden matrix `a` (row stride lda), which holds x.W1 on entry:
///   a[i, j]   = act(a[i, j] + b1[j])
///   logits[i] = b2 + sum_j a[i, j] * w2[j]
void mr_tower_head_forward(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                           const float *b1, const float *w2, float b2, float *logits);

/// Backward through the same head, one pass, given d[i] = dL/dlogit[i] and the activations
/// `a` left by mr_tower_head_forward:
///   dw2[j] += sum_i a[i, j] * d[i]
///   a[i, j] = d[i] * w2[j] * act'(a[i, j])     (act' from the output: relu 1[a > 0], tanh 1 - a^2)
///   db1[j] += sum_i a[i, j]                     (the new a: dL/d(x.W1 + b1))
void mr_tower_head_backward(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                            const float *d, const float *w2, float *dw2, float *db1);

/// The portable versions of the two (same contracts), callable directly for tests.
void mr_tower_head_forward_portable(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                    const float *b1, const float *w2, float b2, float *logits);
void mr_tower_head_backward_portable(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                     const float *d, const float *w2, float *dw2, float *db1);

/// The MMoE gate mixture read through strides, with an optional ReLU on load:
///   out[r, j] = sum_x g[r, x] * act(E_x[r, j])        out: (rows, width), contiguous
/// where g[r, x] = gates[r * gate_stride + x] (1 when gates is NULL) and E_x[r, j] =
/// expert_base[x * expert_stride + r * row_stride + j]; act is max(., 0) when relu != 0.
void mr_gate_mix(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                 const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                 int relu, ptrdiff_t rows, ptrdiff_t width, float *out);
void mr_gate_mix_portable(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                          const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                          int relu, ptrdiff_t rows, ptrdiff_t width, float *out);

#ifdef __cplusplus
}
#endif
#endif
