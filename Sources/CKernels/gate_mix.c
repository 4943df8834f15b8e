// The MMoE gate mixture over strided expert outputs, with ReLU fused into the loads (see
// CKernels.h): the inference bottom mixes straight out of its packed first-layer GEMM output.
#include "CKernels.h"
#include "gemm_avx2.h"
#if MR_GEMM_HAS_X86
#include <immintrin.h>
#endif

void mr_gate_mix_portable(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
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
MR_AVX2 static void gate_mix_avx2(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                                  const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                                  int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
    const __m256 zero = _mm256_setzero_ps();
    const ptrdiff_t vector_width = width & ~(ptrdiff_t)7;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *row = expert_base + r * row_stride;
        float *dst = out + r * width;
        ptrdiff_t j = 0;
        for (; j < vector_width; j += 8) {
            __m256 acc = zero;
            for (ptrdiff_t x = 0; x < experts; x++) {
                const __m256 weight = _mm256_set1_ps(gates ? gates[r * gate_stride + x] : 1.0f);
                __m256 v = _mm256_loadu_ps(row + x * expert_stride + j);
                if (relu) v = _mm256_max_ps(v, zero);
                acc = _mm256_fmadd_ps(weight, v, acc);
            }
            _mm256_storeu_ps(dst + j, acc);
        }
        for (; j < width; j++) {
            float acc = 0.0f;
            for (ptrdiff_t x = 0; x < experts; x++) {
                const float weight = gates ? gates[r * gate_stride + x] : 1.0f;
                float v = row[x * expert_stride + j];
                if (relu) v = v > 0.0f ? v : 0.0f;
                acc += weight * v;
            }
            dst[j] = acc;
        }
    }
}
#endif

void mr_gate_mix(const float *gates, ptrdiff_t gate_stride, ptrdiff_t experts,
                 const float *expert_base, ptrdiff_t expert_stride, ptrdiff_t row_stride,
                 int relu, ptrdiff_t rows, ptrdiff_t width, float *out) {
#if MR_GEMM_HAS_X86
    if (mr_sgemm_uses_avx2()) {
        gate_mix_avx2(gates, gate_stride, experts, expert_base, expert_stride, row_stride, relu, rows, width, out);
        return;
    }
#endif
    mr_gate_mix_portable(gates, gate_stride, experts, expert_base, expert_stride, row_stride, relu, rows, width, out);
}
