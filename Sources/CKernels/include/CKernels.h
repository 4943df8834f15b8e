#ifndef METAREC_CKERNELS_H
#define METAREC_CKERNELS_H
// Hand-written kernels for small and skinny shapes, where a BLAS call's fixed cost
// (argument checks, operand packing) dominates. Row-major throughout.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// SIMD levels of the kernels: portable C, AVX2/FMA, AVX-512F.
#define MR_SIMD_PORTABLE 0
#define MR_SIMD_AVX2 1
#define MR_SIMD_AVX512 2

/// The highest level this CPU (and OS) supports.
int mr_cpu_simd_level(void);

/// The level every dispatching kernel here uses: mr_cpu_simd_level(), capped by the environment
/// variable METAREC_SIMD=portable|avx2|avx512 when set (read once, on the first call; other
/// values are ignored), so the same binary can be measured at a lower level.
int mr_simd_level(void);

/// A spin-wait hint (x86 `pause`): tells the core this thread is polling, so a waiting loop
/// yields execution resources (to an SMT sibling, which a VM's vCPU may be) and leaves the
/// loop without a memory-order mis-speculation when the value changes.
static inline void mr_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// C = alpha * op(A) * op(B) + beta * C, row-major.
/// op(A) is (m, k): A is (m, k) with row stride lda, or (k, m) when trans_a != 0.
/// op(B) is (k, n): B is (k, n) with row stride ldb, or (n, k) when trans_b != 0.
/// C is (m, n) with row stride ldc. beta == 0 overwrites C (NaNs in C are not propagated).
/// Runs the kernel of mr_simd_level(): a 6x64 register-blocked AVX-512 tile, a 6x16 AVX2/FMA
/// tile, or a portable loop.
/// Thread-safe; after a thread's first call it allocates nothing (one packing buffer per thread).
void mr_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
              float alpha, const float *a, ptrdiff_t lda,
              const float *b, ptrdiff_t ldb,
              float beta, float *c, ptrdiff_t ldc);

/// mr_sgemm with the kernel of `level`, which must not exceed mr_cpu_simd_level() (aborts
/// otherwise): lets tests and benchmarks run every kernel this CPU has.
void mr_sgemm_at_level(int level, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc);

/// FMA-throughput loop for measuring the single-core peak: `iterations` rounds of
/// mr_fma_peak_flops_per_iteration() flops in independent FMA chains at mr_simd_level() (AVX-512,
/// AVX2/FMA or scalar). Returns a value derived from the accumulators so the work
/// cannot be optimised away.
float mr_fma_peak_loop(long iterations);

/// Flops performed by one iteration of mr_fma_peak_loop on this CPU.
long mr_fma_peak_flops_per_iteration(void);

/// CPU time consumed so far by the calling thread, in seconds (clock_gettime with
/// CLOCK_THREAD_CPUTIME_ID: monotonic for the thread, excludes time it was descheduled).
double mr_thread_cpu_seconds(void);


// The element-wise kernels below take the SIMD `level` to run at, which must not exceed
// mr_cpu_simd_level() (they abort otherwise): callers pass mr_simd_level(), or a lower level to
// test or measure that version.

/// Activations of the tower kernels: max(x, 0) and tanh(x).
#define MR_TOWER_RELU 0
#define MR_TOWER_TANH 1

/// The hidden layer's bias and activation and the logit of a tower H -> T -> 1, one pass over
/// the (rows, width) hidden matrix `a` (row stride lda), which holds x.W1 on entry:
///   a[i, j]   = act(a[i, j] + b1[j])
///   logits[i] = b2 + sum_j a[i, j] * w2[j]
void mr_tower_head_forward_at_level(int level, float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda,
                                    int activation, const float *b1, const float *w2, float b2, float *logits);

/// Backward through the same head, one pass, given d[i] = dL/dlogit[i] and the activations
/// `a` left by the forward:
///   dw2[j] += sum_i a[i, j] * d[i]
///   a[i, j] = d[i] * w2[j] * act'(a[i, j])     (act' from the output: relu 1[a > 0], tanh 1 - a^2)
///   db1[j] += sum_i a[i, j]                     (the new a: dL/d(x.W1 + b1))
void mr_tower_head_backward_at_level(int level, float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda,
                                     int activation, const float *d, const float *w2, float *dw2, float *db1);

/// The whole forward pass of a tower H -> T -> 1 (T = width) in one kernel, where one applies:
///   hidden[i, j] = max((x.W1)[i, j] + b1[j], 0)   x: (rows, k) row stride ldx; W1: (k, width) contiguous
///   logits[i]    = b2 + sum_j hidden[i, j] * w2[j]
/// hidden: (rows, width), row stride ldh >= width, written only when store_hidden != 0.
/// Applies with AVX-512 (level >= MR_SIMD_AVX512), ReLU, 1 <= width <= 64 and 1 <= k <= 256: each
/// 6-row tile stays in registers from the multiply to the logit. Returns 1 when it ran, 0 when it
/// does not apply (nothing is written; the caller runs a GEMM, then mr_tower_head_forward_at_level).
int mr_tower_forward_fused_at_level(int level, const float *x, ptrdiff_t rows, ptrdiff_t k, ptrdiff_t ldx,
                                    const float *w1, ptrdiff_t width, const float *b1, const float *w2, float b2,
                                    int activation, float *hidden, ptrdiff_t ldh, int store_hidden, float *logits);

/// out[i * stride] = 1 / (1 + e^-x[i]) for i < n, computed as e^x / (1 + e^x) for x < 0 (full
/// relative precision for tiny outputs; results below e^-87 are subnormal or 0, as with expf).
/// AVX-512: 16 at a time with a polynomial e^x (at most a few ulp from the libm version);
/// otherwise libm's expf. stride >= 1; x and out must not overlap.
void mr_sigmoid_at_level(int level, const float *x, ptrdiff_t n, float *out, ptrdiff_t stride);

/// Row-wise softmax in place of a (rows, width) block with row stride `stride`:
///   z[r, j] = e^(z[r, j] - max_j z[r, .]) / sum_j e^(z[r, j] - max_j z[r, .])
/// AVX-512: four rows per vector for width 4, one masked vector per row for other widths up to
/// 16 (the polynomial e^x of mr_sigmoid_at_level); otherwise libm's expf.
void mr_softmax_rows_at_level(int level, float *z, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t stride);

/// One Adam (AdamW) update of n parameters p from gradients g, moments m and v in place:
///   m = b1 m + (1 - b1) g      v = b2 v + (1 - b2) g^2
///   p = p - lr ((m ic1) / (sqrt(v ic2) + eps) + wd p)      ic1, ic2 = 1 / bias corrections
/// AVX-512 16 lanes, otherwise the plain loop. The four buffers must not overlap.
void mr_adam_step_at_level(int level, float *p, const float *g, float *m, float *v, ptrdiff_t n, float b1,
                           float b2, float ic1, float ic2, float eps, float lr, float wd);

/// The MMoE gate mixture read through strides, with an optional ReLU on load:
///   out[r, j] = sum_x g[r, x] * act(E_x[r, j])        out: (rows, width), contiguous
/// where g[r, x] = gates[r * gate_stride + x] (1 when gates is NULL) and E_x[r, j] =
/// expert_base[x * expert_stride + r * row_stride + j]; act is max(., 0) when relu != 0.
void mr_gate_mix_at_level(int level, const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                          const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                          int relu, ptrdiff_t rows, ptrdiff_t width, float *out);

/// 1 when every x[i], i < n, is finite, else 0 (AVX-512: 32 at a time; otherwise a plain loop).
int mr_all_finite_at_level(int level, const float *x, ptrdiff_t n);

/// The MMoE bottom's gates and mixtures for a block of rows of its packed first-layer output,
/// z = [Z_1 ... Z_E | L_1 ... L_K] = x.[W_1 ... W_E | G_1 ... G_K] (rows, P = E*width + K*E),
/// row stride ldz, *without* its bias (P floats, laid out as z's columns):
///   g_t[r, .]     = softmax(L_t[r, .] + c_t)           written over L_t in z
///   out_t[r, j]   = sum_x g_t[r, x] * max(Z_x[r, j] + b_x[j], 0)
/// out_t = outs[t], (rows, width) contiguous. Each expert value is loaded and rectified once per
/// group of up to four tasks (AVX-512; otherwise plain loops). ReLU(NaN) is 0.
void mr_mmoe_mix_at_level(int level, float *z, ptrdiff_t ldz, const float *bias, ptrdiff_t rows, ptrdiff_t experts,
                          ptrdiff_t width, ptrdiff_t tasks, float *const *outs);

/// The folded first layer: y = x.W + b for x = [e_1 | ... | e_F | rest] (B, F*d + R) whose first
/// F*d columns are embedding rows, computed per *unit* (one distinct row of one feature) instead
/// of per batch row. Units u < U: slot[u] is the unit's row in `rows` (d floats each), row0[u]
/// the first of the d rows of W that multiply it (feature f: f*d). unit[f*B + b] is the unit of
/// batch row b's value of feature f. W is (., n) with row stride ldw.

/// P[u, c] = sum_{k<d} rows[slot[u]*d + k] * W[row0[u] + k, c]       P (U, n), row stride ldp.
void mr_fold_project_at_level(int level, ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                              const int32_t *slot, const int32_t *row0, const float *w, ptrdiff_t ldw,
                              float *p, ptrdiff_t ldp);

/// out[b, c] += bias[c] + sum_{f<F} P[unit[f*B + b], c]      (bias may be NULL; out row stride ldo)
void mr_fold_gather_at_level(int level, ptrdiff_t rows, ptrdiff_t fields, ptrdiff_t n, const float *p, ptrdiff_t ldp,
                             const int32_t *unit, const float *bias, float *out, ptrdiff_t ldo);

/// S[u, c] = sum_{offsets[u] <= i < offsets[u+1]} dy[members[i], c]      S (U, n) overwritten, stride lds:
/// the gradient with respect to P, from the batch rows that read each unit (`members`, grouped
/// by unit, U + 1 offsets).
void mr_fold_sum_at_level(int level, ptrdiff_t units, ptrdiff_t n, const float *dy, ptrdiff_t ldy,
                          const int32_t *offsets, const int32_t *members, float *s, ptrdiff_t lds);

/// For every unit u and k < d:
///   dW[row0[u] + k, c]      += rows[slot[u]*d + k] * S[u, c]
///   drows[slot[u]*d + k]    += sum_c S[u, c] * W[row0[u] + k, c]
/// dW has W's shape and stride; drows has rows' shape.
void mr_fold_backproject_at_level(int level, ptrdiff_t units, ptrdiff_t d, ptrdiff_t n, const float *rows,
                                  const int32_t *slot, const int32_t *row0, const float *s, ptrdiff_t lds,
                                  const float *w, ptrdiff_t ldw, float *dw, float *drows);

// ---- Exact top-N by inner product, one query (topn_scan*.c) ----------------------------------
//
// Items are stored in panels of MR_TOPN_LANES items, dimension-major inside a panel, so a SIMD
// lane is one item and a panel's scores need no horizontal sum:
//   fp32 panel p:  panels[(p*d + j)*64 + l] = V[64p + l, j]           (P, d, 64)
//   int8 panel p:  codes[(p*d4 + g)*256 + 4l + r] = c[64p + l, 4g + r] + 128   (P, d4, 64, 4), V ~ scale_i * c_i
// Every level computes one item's dot product in the same order, a chain of fused
// multiply-adds over j = 0, 1, ..., d-1 from 0 (fmaf(q[j], x[j], acc)), so an fp32 score is
// bit-identical across levels and to mr_topn_score_rows (the exact rescoring of row-major V).

/// Items per panel (four AVX-512 vectors of floats: one sequential stream per panel).
#define MR_TOPN_LANES 64

/// The running state of one scan. Caller-owned buffers: heap (k), ids and bounds (capacity);
/// excluded is a bitmap over item ids (bit i of word i/64) or NULL. The scan keeps the k best
/// lower bounds in `heap` (a min-heap; threshold = its minimum once it holds k, -inf before)
/// and appends (id, upper bound) for every item whose upper bound reaches the threshold when
/// the item is seen (a superset of the final candidates: filter by the final threshold).
/// When the candidate buffer fills, the entries below the threshold are dropped; if it is
/// still more than half full, overflow is set and the scan stops (the caller then scores every
/// item exactly). Set count = heap_size = overflow = 0 and threshold = -inf before a scan.
typedef struct mr_topn_state {
    ptrdiff_t n, k, capacity;
    float *heap;
    int32_t *ids;
    float *bounds;
    const uint64_t *excluded;
    ptrdiff_t heap_size, count;
    float threshold;
    int overflow;
} mr_topn_state;

/// Scans fp32 panels [0, panel_count) (items 64p + l < st->n): the score a_i = q . v_i is its
/// own upper and lower bound.
void mr_topn_scan_f32_at_level(int level, const float *panels, ptrdiff_t panel_count, ptrdiff_t d,
                               const float *q, mr_topn_state *st);

/// Scans int8 panels by an exact integer dot product with the quantized query:
///   codes[(p*d4 + g)*256 + 4l + r] = c[64p + l, 4g + r] + 128   (u8; d4 = ceil(d / 4), pad dims c = 0)
///   t_i = sum_j cq[j] * codes_ij - 128 * sum_j cq[j]  = cq . c_i    (exact int32; cq: 4*d4 int8)
///   a_i = ((float)t_i * scale[i]) * qscale
///   upper_i = fmaf(q2, norm[i], fmaf(q1, err[i], a_i))     lower_i = the same with -q1, -q2
/// (the caller chooses err, norm, q1, q2 so that lower_i <= fp32 score of v_i <= upper_i).
/// AVX-512 with VNNI: vpdpbusd, four dimensions of 16 items per instruction; other levels: the
/// same integer sums in plain loops. Every level gives the same a_i. d4 <= 256.
void mr_topn_scan_i8_at_level(int level, const uint8_t *codes, const float *scale, const float *err,
                              const float *norm, ptrdiff_t panel_count, ptrdiff_t d4, const int8_t *cq,
                              float qscale, float q1, float q2, mr_topn_state *st);

/// Whether this CPU has AVX-512 VNNI (the int8 scan's fast path at the AVX-512 level).
int mr_cpu_has_avx512_vnni(void);

/// out[r] = q . V[ids[r]] for r < count, V (., d) row-major, in the scans' fma order, so the
/// values equal the fp32 scan's scores bit for bit. ids NULL: rows first, first + 1, ...
void mr_topn_score_rows_at_level(int level, const float *v, ptrdiff_t d, const float *q,
                                 const int32_t *ids, ptrdiff_t first, ptrdiff_t count, float *out);

#ifdef __cplusplus
}
#endif
#endif
