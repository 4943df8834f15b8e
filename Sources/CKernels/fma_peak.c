// Single-core peak: FMA chains with no loads, enough of them to hide the FMA latency on
// both FMA pipes (latency 4-5 cycles x 2 pipes needs >= 10 independent chains; 12 are used).
#include "CKernels.h"
#include "gemm_avx2.h"
#include <time.h>

#define CHAINS 12

#if MR_GEMM_HAS_X86
#include <immintrin.h>

MR_AVX2 static float peak_loop_avx2(long iterations) {
    // x * 0.999999 + 1e-6 converges to 1: no overflow, no denormals. The empty asm makes the
    // accumulators opaque each round, so the compiler can neither fold nor shorten the loop.
    const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-6f);
    __m256 a0 = _mm256_set1_ps(1.00f), a1 = _mm256_set1_ps(1.01f), a2 = _mm256_set1_ps(1.02f);
    __m256 a3 = _mm256_set1_ps(1.03f), a4 = _mm256_set1_ps(1.04f), a5 = _mm256_set1_ps(1.05f);
    __m256 a6 = _mm256_set1_ps(1.06f), a7 = _mm256_set1_ps(1.07f), a8 = _mm256_set1_ps(1.08f);
    __m256 a9 = _mm256_set1_ps(1.09f), a10 = _mm256_set1_ps(1.10f), a11 = _mm256_set1_ps(1.11f);
    for (long it = 0; it < iterations; ++it) {
        a0 = _mm256_fmadd_ps(a0, scale, shift); a1 = _mm256_fmadd_ps(a1, scale, shift);
        a2 = _mm256_fmadd_ps(a2, scale, shift); a3 = _mm256_fmadd_ps(a3, scale, shift);
        a4 = _mm256_fmadd_ps(a4, scale, shift); a5 = _mm256_fmadd_ps(a5, scale, shift);
        a6 = _mm256_fmadd_ps(a6, scale, shift); a7 = _mm256_fmadd_ps(a7, scale, shift);
        a8 = _mm256_fmadd_ps(a8, scale, shift); a9 = _mm256_fmadd_ps(a9, scale, shift);
        a10 = _mm256_fmadd_ps(a10, scale, shift); a11 = _mm256_fmadd_ps(a11, scale, shift);
        __asm__("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}
#endif

static float peak_loop_scalar(long iterations) {
    float acc[CHAINS];
    for (int i = 0; i < CHAINS; ++i) acc[i] = 1.0f + 0.001f * (float)i;
    for (long it = 0; it < iterations; ++it) {
        for (int i = 0; i < CHAINS; ++i) acc[i] = acc[i] * 0.999999f + 1e-6f;
        __asm__("" : : "r"(acc) : "memory");
    }
    float s = 0.0f;
    for (int i = 0; i < CHAINS; ++i) s += acc[i];
    return s;
}

float mr_fma_peak_loop(long iterations) {
#if MR_GEMM_HAS_X86
    if (mr_sgemm_uses_avx2()) return peak_loop_avx2(iterations);
#endif
    return peak_loop_scalar(iterations);
}

long mr_fma_peak_flops_per_iteration(void) {
    // One FMA = 2 flops per lane; 8 lanes per ymm register.
    return mr_sgemm_uses_avx2() ? (long)CHAINS * 8 * 2 : (long)CHAINS * 2;
}

double mr_thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
