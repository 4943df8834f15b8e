// The MMoE gate mixture over strided expert outputs, with ReLU fused into the loads (see
// CKernels.h): the inference bottom mixes straight out of its packed first-layer GEMM output.
// AVX-512 runs 64 columns per block (lane masks on the edge), AVX2/FMA 64 then 8 at a time.
#include "CKernels.h"
#include "gemm_avx512.h"
#include <stdlib.h>
#if MR_GEMM_HAS_X86
#include <immintrin.h>
#endif

static void gate_mix_portable(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                          const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                          int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = expert_base + r * row_stride;
        for (ptrdiff_t j = 0; j < width; j++) {
            float acc = 0.0f;
            for (ptrdiff_t x = 0; x < experts; x++) {
                const float weight = gates ? gates[r * gate_stride + x] : 1.0f;
                float v = row[x * expert_stride + j];
                if (relu) v = v > 0.0f ? v : 0.0f;
                acc += weight * v;
            }
            out[r * width + j] = acc;
        }
    }
}

#if MR_GEMM_HAS_X86
/// One row, columns [j, j + 64): eight independent accumulators, experts in the outer loop, so
/// the FMAs of one expert do not wait on each other (one accumulator per 8 columns made each
/// 8-column block a chain of `experts` dependent FMAs: latency-bound).
MR_AVX2 static inline __attribute__((always_inline)) void
mix_block64(const float *gate, ptrdiff_t experts, const float *row, ptrdiff_t expert_stride,
            const int relu, float *dst) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
    for (ptrdiff_t x = 0; x < experts; x++) {
        const __m256 w = _mm256_set1_ps(gate ? gate[x] : 1.0f);
        const float *src = row + x * expert_stride;
#define MIX_LANE(i, acc)                                         \
        {                                                        \
            __m256 v = _mm256_loadu_ps(src + 8 * i);             \
            if (relu) v = _mm256_max_ps(v, zero);                \
            acc = _mm256_fmadd_ps(w, v, acc);                    \
        }
        MIX_LANE(0, a0) MIX_LANE(1, a1) MIX_LANE(2, a2) MIX_LANE(3, a3)
        MIX_LANE(4, a4) MIX_LANE(5, a5) MIX_LANE(6, a6) MIX_LANE(7, a7)
#undef MIX_LANE
    }
    _mm256_storeu_ps(dst, a0); _mm256_storeu_ps(dst + 8, a1);
    _mm256_storeu_ps(dst + 16, a2); _mm256_storeu_ps(dst + 24, a3);
    _mm256_storeu_ps(dst + 32, a4); _mm256_storeu_ps(dst + 40, a5);
    _mm256_storeu_ps(dst + 48, a6); _mm256_storeu_ps(dst + 56, a7);
}

MR_AVX2 static inline __attribute__((always_inline)) void
gate_mix_rows(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
              const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
              const int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    const __m256 zero = _mm256_setzero_ps();
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = expert_base + r * row_stride;
        const float *gate = gates ? gates + r * gate_stride : NULL;
        float *dst = out + r * width;
        ptrdiff_t j = 0;
        for (; j + 64 <= width; j += 64) mix_block64(gate, experts, row + j, expert_stride, relu, dst + j);
        for (; j + 8 <= width; j += 8) {
            __m256 acc = zero;
            for (ptrdiff_t x = 0; x < experts; x++) {
                __m256 v = _mm256_loadu_ps(row + x * expert_stride + j);
                if (relu) v = _mm256_max_ps(v, zero);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(gate ? gate[x] : 1.0f), v, acc);
            }
            _mm256_storeu_ps(dst + j, acc);
        }
        for (; j < width; j++) {
            float acc = 0.0f;
            for (ptrdiff_t x = 0; x < experts; x++) {
                float v = row[x * expert_stride + j];
                if (relu) v = v > 0.0f ? v : 0.0f;
                acc += (gate ? gate[x] : 1.0f) * v;
            }
            dst[j] = acc;
        }
    }
}

MR_AVX2 static void gate_mix_avx2(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                                  const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                                  int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    if (relu) gate_mix_rows(gates, gate_stride, experts, expert_base, expert_stride, row_stride, 1, rows, width, out);
    else gate_mix_rows(gates, gate_stride, experts, expert_base, expert_stride, row_stride, 0, rows, width, out);
}
/// One row, columns [j, j + 64): four zmm accumulators, experts in the outer loop (as
/// mix_block64); a lane mask covers a last block narrower than 64.
MR_AVX512 static inline __attribute__((always_inline)) void
mix_block64_512(const float *gate, ptrdiff_t experts, const float *row, ptrdiff_t expert_stride,
                const int relu, ptrdiff_t count, float *dst) {
    const __m512 zero = _mm512_setzero_ps();
    const __mmask16 m0 = mr_lane_mask(count), m1 = mr_lane_mask(count - 16);
    const __mmask16 m2 = mr_lane_mask(count - 32), m3 = mr_lane_mask(count - 48);
    __m512 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    for (ptrdiff_t x = 0; x < experts; x++) {
        const __m512 w = _mm512_set1_ps(gate ? gate[x] : 1.0f);
        const float *src = row + x * expert_stride;
#define MIX_LANE512(i, acc, m)                                   \
        {                                                        \
            __m512 v = _mm512_maskz_loadu_ps(m, src + 16 * i);   \
            if (relu) v = _mm512_max_ps(v, zero);                \
            acc = _mm512_fmadd_ps(w, v, acc);                    \
        }
        MIX_LANE512(0, a0, m0) MIX_LANE512(1, a1, m1) MIX_LANE512(2, a2, m2) MIX_LANE512(3, a3, m3)
#undef MIX_LANE512
    }
    _mm512_mask_storeu_ps(dst, m0, a0); _mm512_mask_storeu_ps(dst + 16, m1, a1);
    _mm512_mask_storeu_ps(dst + 32, m2, a2); _mm512_mask_storeu_ps(dst + 48, m3, a3);
}

MR_AVX512 static void gate_mix_avx512(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                                      const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                                      int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = expert_base + r * row_stride;
        const float *gate = gates ? gates + r * gate_stride : NULL;
        float *dst = out + r * width;
        for (ptrdiff_t j = 0; j < width; j += 64) {
            const ptrdiff_t count = width - j < 64 ? width - j : 64;
            if (relu) mix_block64_512(gate, experts, row + j, expert_stride, 1, count, dst + j);
            else mix_block64_512(gate, experts, row + j, expert_stride, 0, count, dst + j);
        }
    }
}
#endif

void mr_gate_mix_at_level(int level, const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                          const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                          int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) {
        gate_mix_avx512(gates, gate_stride, experts, expert_base, expert_stride, row_stride, relu, rows, width, out);
        return;
    }
    if (level == MR_SIMD_AVX2) {
        gate_mix_avx2(gates, gate_stride, experts, expert_base, expert_stride, row_stride, relu, rows, width, out);
        return;
    }
#endif
    gate_mix_portable(gates, gate_stride, experts, expert_base, expert_stride, row_stride, relu, rows, width, out);
}
