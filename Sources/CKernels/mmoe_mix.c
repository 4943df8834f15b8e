// The inference bottom's MMoE mixture over a block of rows of its packed first-layer output,
// the biases added on load and every task mixed in one pass over the experts (see CKernels.h).
// PackedBottom multiplies a row block into L1 and calls this while it is still there: the bias
// is not written into the block first, and each expert value is loaded and rectified once per
// group of up to four tasks instead of once per task.
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"

/// Adds the gate biases to the gate logits of every row: z[r, g0 + j] += bias[g0 + j], j < n.
static void add_gate_bias(float *z, ptrdiff_t ldz, const float *bias, ptrdiff_t rows, ptrdiff_t g0, ptrdiff_t n) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = z + r * ldz + g0;
        for (ptrdiff_t j = 0; j < n; j++) row[j] += bias[g0 + j];
    }
}

static void mmoe_mix_portable(const float *z, ptrdiff_t ldz, const float *bias, ptrdiff_t rows, ptrdiff_t experts,
                              ptrdiff_t width, ptrdiff_t tasks, float *const *outs) {
    const ptrdiff_t g0 = experts * width;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = z + r * ldz;
        for (ptrdiff_t t = 0; t < tasks; t++) {
            const float *gate = row + g0 + t * experts;
            for (ptrdiff_t j = 0; j < width; j++) {
                float acc = 0.0f;
                for (ptrdiff_t x = 0; x < experts; x++) {
                    float v = row[x * width + j] + bias[x * width + j];
                    v = v > 0.0f ? v : 0.0f;  // NaN -> 0, as max_ps(v, 0) below
                    acc += gate[x] * v;
                }
                outs[t][r * width + j] = acc;
            }
        }
    }
}

#if MR_GEMM_HAS_X86
/// One row, columns [0, count) of a 64-column block (count <= 64, masked), for nt <= 4 tasks:
/// dst[t][j] = sum_x gate[t][x] * max(src[x][j] + b[x][j], 0), the experts in the outer loop.
/// 16 accumulators, 4 expert vectors: each expert value is loaded and rectified once.
MR_AVX512 static inline __attribute__((always_inline)) void
mix_tasks_block(const int nt, const float *row, const float *bias, ptrdiff_t width, ptrdiff_t experts,
                const float *gates, ptrdiff_t count, float *const *dst, ptrdiff_t offset) {
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 m[4] = {mr_lane_mask(count), mr_lane_mask(count - 16), mr_lane_mask(count - 32),
                            mr_lane_mask(count - 48)};
    __m512 acc[4][4];
#pragma clang loop unroll(full)
    for (int t = 0; t < 4; t++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) acc[t][i] = zero;
    }
    for (ptrdiff_t x = 0; x < experts; x++) {
        const float *src = row + x * width, *b = bias + x * width;
        __m512 v[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) {
            v[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(m[i], src + 16 * i), _mm512_maskz_loadu_ps(m[i], b + 16 * i));
            v[i] = _mm512_max_ps(v[i], zero);  // NaN -> 0 (max_ps returns its second operand)
        }
#pragma clang loop unroll(full)
        for (int t = 0; t < 4; t++) {
            if (t < nt) {
                const __m512 w = _mm512_set1_ps(gates[t * experts + x]);
#pragma clang loop unroll(full)
                for (int i = 0; i < 4; i++) acc[t][i] = _mm512_fmadd_ps(w, v[i], acc[t][i]);
            }
        }
    }
#pragma clang loop unroll(full)
    for (int t = 0; t < 4; t++) {
        if (t < nt) {
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++) _mm512_mask_storeu_ps(dst[t] + offset + 16 * i, m[i], acc[t][i]);
        }
    }
}

MR_AVX512 static void mmoe_mix_avx512(const float *z, ptrdiff_t ldz, const float *bias, ptrdiff_t rows,
                                      ptrdiff_t experts, ptrdiff_t width, ptrdiff_t tasks, float *const *outs) {
    const ptrdiff_t g0 = experts * width;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = z + r * ldz;
        for (ptrdiff_t t0 = 0; t0 < tasks; t0 += 4) {
            const ptrdiff_t nt = tasks - t0 < 4 ? tasks - t0 : 4;
            const float *gates = row + g0 + t0 * experts;
            float *const *dst = outs + t0;
            for (ptrdiff_t j = 0; j < width; j += 64) {
                const ptrdiff_t count = width - j < 64 ? width - j : 64, offset = r * width + j;
                switch (nt) {
                case 4: mix_tasks_block(4, row + j, bias + j, width, experts, gates, count, dst, offset); break;
                case 3: mix_tasks_block(3, row + j, bias + j, width, experts, gates, count, dst, offset); break;
                case 2: mix_tasks_block(2, row + j, bias + j, width, experts, gates, count, dst, offset); break;
                default: mix_tasks_block(1, row + j, bias + j, width, experts, gates, count, dst, offset); break;
                }
            }
        }
    }
}
#endif

void mr_mmoe_mix_at_level(int level, float *z, ptrdiff_t ldz, const float *bias, ptrdiff_t rows, ptrdiff_t experts,
                          ptrdiff_t width, ptrdiff_t tasks, float *const *outs) {
    if (level > mr_cpu_simd_level()) abort();
    if (rows <= 0 || tasks <= 0) return;
    const ptrdiff_t g0 = experts * width;
    add_gate_bias(z, ldz, bias, rows, g0, tasks * experts);
    for (ptrdiff_t t = 0; t < tasks; t++) mr_softmax_rows_at_level(level, z + g0 + t * experts, rows, experts, ldz);
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        mmoe_mix_avx512(z, ldz, bias, rows, experts, width, tasks, outs);
        return;
    }
#endif
    mmoe_mix_portable(z, ldz, bias, rows, experts, width, tasks, outs);
}
