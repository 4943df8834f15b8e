// Single-core peak: FMA chains with no loads, enough of them to hide the FMA latency on
// both FMA pipes (latency 4-5 cycles x 2 pipes needs >= 10 independent chains; 12 are used).
#include "CKernels.h"
#include "gemm_avx512.h"
#include <time.h>

#define CHAINS 12

#if MR_GEMM_HAS_X86
#include <immintrin.h>

// One loop body per vector type: 12 independent chains of x * 0.999999 + 1e-6, which
// converges to 1 (no overflow, no denormals). The empty asm makes the accumulators opaque each
// round, so the compiler can neither fold nor shorten the loop.
#define PEAK_LOOP(V, SET1, FMA, ADD, STORE, LANES, REG)                                            \
    const V scale = SET1(0.999999f), shift = SET1(1e-6f);                                        \
    V a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f);                    \
    V a4 = SET1(1.04f), a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f);                    \
    V a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f), a11 = SET1(1.11f);                  \
    for (long it = 0; it < iterations; ++it) {                                                   \
        a0 = FMA(a0, scale, shift); a1 = FMA(a1, scale, shift); a2 = FMA(a2, scale, shift);     \
        a3 = FMA(a3, scale, shift); a4 = FMA(a4, scale, shift); a5 = FMA(a5, scale, shift);     \
        a6 = FMA(a6, scale, shift); a7 = FMA(a7, scale, shift); a8 = FMA(a8, scale, shift);     \
        a9 = FMA(a9, scale, shift); a10 = FMA(a10, scale, shift); a11 = FMA(a11, scale, shift); \
        __asm__("" : "+" REG(a0), "+" REG(a1), "+" REG(a2), "+" REG(a3), "+" REG(a4), "+" REG(a5));  \
        __asm__("" : "+" REG(a6), "+" REG(a7), "+" REG(a8), "+" REG(a9), "+" REG(a10), "+" REG(a11)); \
    }                                                                                            \
    V s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                     \
    s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));                                                 \
    float out[LANES];                                                                            \
    STORE(out, s);                                                                               \
    return out[0] + out[LANES - 1];

#define YMM(x) "x"(x)
#define ZMM(x) "v"(x)

MR_AVX2 static float peak_loop_avx2(long iterations) {
    PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8, YMM)
}

MR_AVX512 static float peak_loop_avx512(long iterations) {
    PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16, ZMM)
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
    if (mr_simd_level() >= MR_SIMD_AVX512) return peak_loop_avx512(iterations);
    if (mr_simd_level() == MR_SIMD_AVX2) return peak_loop_avx2(iterations);
#endif
    return peak_loop_scalar(iterations);
}

long mr_fma_peak_flops_per_iteration(void) {
    // One FMA = 2 flops per lane; 16 lanes per zmm register, 8 per ymm.
    const int level = mr_simd_level();
    return (long)CHAINS * 2 * (level >= MR_SIMD_AVX512 ? 16 : level == MR_SIMD_AVX2 ? 8 : 1);
}

double mr_thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
