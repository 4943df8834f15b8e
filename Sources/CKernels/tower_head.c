// The element-wise work of a tower H -> T -> 1 around its two GEMMs, one pass over the
// hidden matrix each way (see CKernels.h). The AVX-512 versions run 16 columns at a time (a
// lane mask on the last vector), the AVX2/FMA ones 8; the portable ones are the plain loops
// and the reference the tests compare against.
#include <math.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"
#include "gemm_internal.h"

/// act'(.) written in terms of the activation's output a: relu 1[a > 0], tanh 1 - a^2.
static inline float derivative(int activation, float a) {
    return activation == MR_TOWER_TANH ? 1.0f - a * a : (a > 0.0f ? 1.0f : 0.0f);
}

static inline float activate(int activation, float z) {
    return activation == MR_TOWER_TANH ? tanhf(z) : (z > 0.0f ? z : 0.0f);
}

static void forward_portable(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                    const float *b1, const float *w2, float b2, float *logits) {
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        float z = 0.0f;
        for (ptrdiff_t j = 0; j < width; j++) {
            row[j] = activate(activation, row[j] + b1[j]);
            z += row[j] * w2[j];
        }
        logits[i] = b2 + z;
    }
}

static void backward_portable(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                     const float *d, const float *w2, float *dw2, float *db1) {
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        const float di = d[i];
        for (ptrdiff_t j = 0; j < width; j++) {
            dw2[j] += row[j] * di;
            row[j] = di * w2[j] * derivative(activation, row[j]);
            db1[j] += row[j];
        }
    }
}

#if MR_GEMM_HAS_X86
#include <immintrin.h>

MR_AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

MR_AVX2 static void forward_avx2(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                 const float *b1, const float *w2, float b2, float *logits) {
    const __m256 zero = _mm256_setzero_ps();
    const ptrdiff_t vector_width = width & ~(ptrdiff_t)7;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        if (activation == MR_TOWER_TANH) {
            for (ptrdiff_t j = 0; j < width; j++) row[j] = tanhf(row[j] + b1[j]);
        }
        __m256 acc0 = zero, acc1 = zero;
        ptrdiff_t j = 0;
        for (; j + 16 <= vector_width; j += 16) {
            __m256 x0 = _mm256_loadu_ps(row + j), x1 = _mm256_loadu_ps(row + j + 8);
            if (activation != MR_TOWER_TANH) {
                x0 = _mm256_max_ps(_mm256_add_ps(x0, _mm256_loadu_ps(b1 + j)), zero);
                x1 = _mm256_add_ps(x1, _mm256_loadu_ps(b1 + j + 8));
                x1 = _mm256_max_ps(x1, zero);
                _mm256_storeu_ps(row + j, x0);
                _mm256_storeu_ps(row + j + 8, x1);
            }
            acc0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + j), acc0);
            acc1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w2 + j + 8), acc1);
        }
        for (; j < vector_width; j += 8) {
            __m256 x0 = _mm256_loadu_ps(row + j);
            if (activation != MR_TOWER_TANH) {
                x0 = _mm256_max_ps(_mm256_add_ps(x0, _mm256_loadu_ps(b1 + j)), zero);
                _mm256_storeu_ps(row + j, x0);
            }
            acc0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w2 + j), acc0);
        }
        float z = horizontal_sum(_mm256_add_ps(acc0, acc1));
        for (; j < width; j++) {
            if (activation != MR_TOWER_TANH) {
                const float v = row[j] + b1[j];
                row[j] = v > 0.0f ? v : 0.0f;
            }
            z += row[j] * w2[j];
        }
        logits[i] = b2 + z;
    }
}

MR_AVX2 static void backward_avx2(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                  const float *d, const float *w2, float *dw2, float *db1) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const ptrdiff_t vector_width = width & ~(ptrdiff_t)7;
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        const float di = d[i];
        const __m256 dv = _mm256_set1_ps(di);
        ptrdiff_t j = 0;
        for (; j < vector_width; j += 8) {
            const __m256 x = _mm256_loadu_ps(row + j);
            _mm256_storeu_ps(dw2 + j, _mm256_fmadd_ps(x, dv, _mm256_loadu_ps(dw2 + j)));
            __m256 slope;
            if (activation == MR_TOWER_TANH) {
                slope = _mm256_fnmadd_ps(x, x, one);  // 1 - a^2
            } else {
                slope = _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), one);
            }
            const __m256 delta = _mm256_mul_ps(_mm256_mul_ps(dv, _mm256_loadu_ps(w2 + j)), slope);
            _mm256_storeu_ps(row + j, delta);
            _mm256_storeu_ps(db1 + j, _mm256_add_ps(_mm256_loadu_ps(db1 + j), delta));
        }
        for (; j < width; j++) {
            dw2[j] += row[j] * di;
            row[j] = di * w2[j] * derivative(activation, row[j]);
            db1[j] += row[j];
        }
    }
}
/// One row of the ReLU head: a = max(a + b1, 0) in place, returns b2 + a . w2. Full vectors,
/// then one masked vector for the last width % 16 columns; four accumulators.
MR_AVX512 static inline __attribute__((always_inline)) float
relu_row_avx512(float *row, ptrdiff_t width, const float *b1, const float *w2, float b2) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 acc[4] = {zero, zero, zero, zero};
    ptrdiff_t j = 0;
    for (; j + 64 <= width; j += 64) {
#pragma clang loop unroll(full)
        for (int v = 0; v < 4; v++) {
            const __m512 x = _mm512_max_ps(_mm512_add_ps(_mm512_loadu_ps(row + j + 16 * v), _mm512_loadu_ps(b1 + j + 16 * v)), zero);
            _mm512_storeu_ps(row + j + 16 * v, x);
            acc[v] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w2 + j + 16 * v), acc[v]);
        }
    }
    for (int v = 0; j < width; j += 16, v++) {
        const __mmask16 m = mr_lane_mask(width - j);
        const __m512 x = _mm512_max_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, row + j), _mm512_maskz_loadu_ps(m, b1 + j)), zero);
        _mm512_mask_storeu_ps(row + j, m, x);
        acc[v] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, w2 + j), acc[v]);
    }
    return b2 + _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

MR_AVX512 static void forward_avx512(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                     const float *b1, const float *w2, float b2, float *logits) {
    if (activation != MR_TOWER_TANH) {
        for (ptrdiff_t i = 0; i < rows; i++) logits[i] = relu_row_avx512(a + i * lda, width, b1, w2, b2);
        return;
    }
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        for (ptrdiff_t j = 0; j < width; j++) row[j] = tanhf(row[j] + b1[j]);
        __m512 acc = zero;
        for (ptrdiff_t j = 0; j < width; j += 16) {
            const __mmask16 m = mr_lane_mask(width - j);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, row + j), _mm512_maskz_loadu_ps(m, w2 + j), acc);
        }
        logits[i] = b2 + _mm512_reduce_add_ps(acc);
    }
}

MR_AVX512 static void backward_avx512(float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda, int activation,
                                      const float *d, const float *w2, float *dw2, float *db1) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (ptrdiff_t i = 0; i < rows; i++) {
        float *row = a + i * lda;
        const __m512 dv = _mm512_set1_ps(d[i]);
        for (ptrdiff_t j = 0; j < width; j += 16) {
            const __mmask16 m = mr_lane_mask(width - j);
            const __m512 x = _mm512_maskz_loadu_ps(m, row + j);
            _mm512_mask_storeu_ps(dw2 + j, m, _mm512_fmadd_ps(x, dv, _mm512_maskz_loadu_ps(m, dw2 + j)));
            __m512 slope;
            if (activation == MR_TOWER_TANH) {
                slope = _mm512_fnmadd_ps(x, x, one);  // 1 - a^2
            } else {
                slope = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), one);
            }
            const __m512 delta = _mm512_mul_ps(_mm512_mul_ps(dv, _mm512_maskz_loadu_ps(m, w2 + j)), slope);
            _mm512_mask_storeu_ps(row + j, m, delta);
            _mm512_mask_storeu_ps(db1 + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, db1 + j), delta));
        }
    }
}
#endif

void mr_tower_head_forward_at_level(int level, float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda,
                                    int activation, const float *b1, const float *w2, float b2, float *logits) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) return forward_avx512(a, rows, width, lda, activation, b1, w2, b2, logits);
    if (level == MR_SIMD_AVX2) return forward_avx2(a, rows, width, lda, activation, b1, w2, b2, logits);
#endif
    forward_portable(a, rows, width, lda, activation, b1, w2, b2, logits);
}

void mr_tower_head_backward_at_level(int level, float *a, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t lda,
                                     int activation, const float *d, const float *w2, float *dw2, float *db1) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512) return backward_avx512(a, rows, width, lda, activation, d, w2, dw2, db1);
    if (level == MR_SIMD_AVX2) return backward_avx2(a, rows, width, lda, activation, d, w2, dw2, db1);
#endif
    backward_portable(a, rows, width, lda, activation, d, w2, dw2, db1);
}

int mr_tower_forward_fused_at_level(int level, const float *x, ptrdiff_t rows, ptrdiff_t k, ptrdiff_t ldx,
                                    const float *w1, ptrdiff_t width, const float *b1, const float *w2, float b2,
                                    int activation, float *hidden, ptrdiff_t ldh, int store_hidden, float *logits) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512 && activation == MR_TOWER_RELU && width >= 1 && width <= MR_GEMM_NR512 &&
        k >= 1 && k <= MR_GEMM_KC) {
        if (rows > 0) {
            mr_tower_forward_relu_avx512(x, rows, k, ldx, w1, width, b1, w2, b2, hidden, ldh, store_hidden, logits);
        }
        return 1;
    }
#else
    (void)x; (void)rows; (void)ldx; (void)w1; (void)b1; (void)w2; (void)b2; (void)hidden; (void)ldh;
    (void)store_hidden; (void)logits;  // the fused kernel exists for x86 only
#endif
    return 0;
}
