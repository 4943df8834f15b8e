// Kernels built on e^x (see CKernels.h): the logistic function over a vector and the row-wise
// softmax of small blocks (MMoE gates). AVX-512: e^v for v <= 0 by Cody-Waite range reduction,
// the Cephes expf polynomial (relative error <= 1.7e-7 on [-ln2/2, ln2/2]) and scalef for 2^n,
// which also produces the subnormal and zero results below e^-87 where expf does. Portable:
// the same formulas with libm's expf.
#include <math.h>
#include <stdlib.h>
#include "CKernels.h"
#include "gemm_avx512.h"

static inline float sigmoid_scalar(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

static void sigmoid_portable(const float *x, ptrdiff_t n, float *out, ptrdiff_t stride) {
    for (ptrdiff_t i = 0; i < n; i++) out[i * stride] = sigmoid_scalar(x[i]);
}

#if MR_GEMM_HAS_X86
/// e^v for v <= 0 (v = -|x|; NaN stays NaN).
MR_AVX512 static inline __m512 exp_nonpositive(__m512 v) {
    // Below -104 the result is 0 in float anyway; clamping keeps n finite for scalef. (max_ps
    // returns its second operand when either is NaN, so a NaN v stays NaN.)
    v = _mm512_max_ps(_mm512_set1_ps(-104.0f), v);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

MR_AVX512 static void sigmoid_avx512(const float *x, ptrdiff_t n, float *out, ptrdiff_t stride) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)stride));
    for (ptrdiff_t i = 0; i < n; i += 16) {
        const __mmask16 m = mr_lane_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(v)));
        const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
        // x >= 0: 1 / (1 + e^-x); x < 0: e^x / (1 + e^x) (full relative precision for tiny outputs).
        const __mmask16 negative = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        const __m512 y = _mm512_mask_mul_ps(s, negative, e, s);
        if (stride == 1) _mm512_mask_storeu_ps(out + i, m, y);
        else _mm512_mask_i32scatter_ps(out + i * stride, m, lanes, y, 4);
    }
}
#endif

void mr_sigmoid_at_level(int level, const float *x, ptrdiff_t n, float *out, ptrdiff_t stride) {
    if (level > mr_cpu_simd_level()) abort();
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512 && stride <= (1 << 26)) {
        sigmoid_avx512(x, n, out, stride);
        return;
    }
#endif
    sigmoid_portable(x, n, out, stride);
}

static void softmax_rows_portable(float *z, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t stride) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = z + r * stride;
        float m = row[0];
        for (ptrdiff_t j = 1; j < width; j++) m = row[j] > m ? row[j] : m;
        float sum = 0.0f;
        for (ptrdiff_t j = 0; j < width; j++) {
            row[j] = expf(row[j] - m);
            sum += row[j];
        }
        const float inverse = 1.0f / sum;
        for (ptrdiff_t j = 0; j < width; j++) row[j] *= inverse;
    }
}

#if MR_GEMM_HAS_X86
/// One masked vector per row (width <= 16): max, e^(z - max), sum, scale.
MR_AVX512 static void softmax_rows_avx512(float *z, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t stride) {
    const __mmask16 m = mr_lane_mask(width);
    const __m512 lowest = _mm512_set1_ps(-INFINITY);
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *row = z + r * stride;
        const __m512 v = _mm512_mask_loadu_ps(lowest, m, row);
        const float top = _mm512_reduce_max_ps(v);
        const __m512 e = _mm512_maskz_mov_ps(m, exp_nonpositive(_mm512_sub_ps(v, _mm512_set1_ps(top))));
        const float inverse = 1.0f / _mm512_reduce_add_ps(e);
        _mm512_mask_storeu_ps(row, m, _mm512_mul_ps(e, _mm512_set1_ps(inverse)));
    }
}

/// Width exactly 4 (MMoE with four experts), four rows per vector, one per 128-bit lane: the
/// reductions are in-lane shuffles and one exp and one division serve four rows. (One row per
/// vector spent ~30 cycles a row on the latency of two full-width reductions and a division.)
MR_AVX512 static void softmax_rows4_avx512(float *z, ptrdiff_t rows, ptrdiff_t stride) {
    ptrdiff_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        float *row = z + r * stride;
        __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(row));
        v = _mm512_insertf32x4(v, _mm_loadu_ps(row + stride), 1);
        v = _mm512_insertf32x4(v, _mm_loadu_ps(row + 2 * stride), 2);
        v = _mm512_insertf32x4(v, _mm_loadu_ps(row + 3 * stride), 3);
        // Lane maxima: swap neighbours, then swap pairs (within each 128-bit lane).
        __m512 top = _mm512_max_ps(v, _mm512_permute_ps(v, 0xB1));
        top = _mm512_max_ps(top, _mm512_permute_ps(top, 0x4E));
        const __m512 e = exp_nonpositive(_mm512_sub_ps(v, top));
        __m512 sum = _mm512_add_ps(e, _mm512_permute_ps(e, 0xB1));
        sum = _mm512_add_ps(sum, _mm512_permute_ps(sum, 0x4E));
        const __m512 p = _mm512_mul_ps(e, _mm512_div_ps(_mm512_set1_ps(1.0f), sum));
        _mm_storeu_ps(row, _mm512_castps512_ps128(p));
        _mm_storeu_ps(row + stride, _mm512_extractf32x4_ps(p, 1));
        _mm_storeu_ps(row + 2 * stride, _mm512_extractf32x4_ps(p, 2));
        _mm_storeu_ps(row + 3 * stride, _mm512_extractf32x4_ps(p, 3));
    }
    if (r < rows) softmax_rows_avx512(z + r * stride, rows - r, 4, stride);
}
#endif

void mr_softmax_rows_at_level(int level, float *z, ptrdiff_t rows, ptrdiff_t width, ptrdiff_t stride) {
    if (level > mr_cpu_simd_level()) abort();
    if (width <= 0) return;
#if MR_GEMM_HAS_X86
    if (level >= MR_SIMD_AVX512 && width == 4) {
        softmax_rows4_avx512(z, rows, stride);
        return;
    }
    if (level >= MR_SIMD_AVX512 && width <= 16) {
        softmax_rows_avx512(z, rows, width, stride);
        return;
    }
#endif
    softmax_rows_portable(z, rows, width, stride);
}
