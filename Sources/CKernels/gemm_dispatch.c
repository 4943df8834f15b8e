// Chooses the kernel at run time: AVX-512F, AVX2/FMA or portable (per-function target
// attributes, no global -mavx2 or -mavx512f, so the package builds for any x86-64 or non-x86
// target), and handles the degenerate cases.
#include "CKernels.h"
#include "gemm_internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int cpu_level, chosen_level;
static pthread_once_t levels_once = PTHREAD_ONCE_INIT;

/// Reads the CPU model libgcc/compiler-rt filled in at load time (the AVX-512 bits only when
/// the OS saves the zmm state), once: every kernel entry checks its level against it.
static int detect_cpu_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // The AVX-512 kernels also run AVX2/FMA code (packing, 8x8 transposes): require both.
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f")) return MR_SIMD_AVX512;
    if (avx2) return MR_SIMD_AVX2;
#endif
    return MR_SIMD_PORTABLE;
}

static void choose_levels(void) {
    cpu_level = detect_cpu_level();
    int level = cpu_level;
    const char *cap = getenv("METAREC_SIMD");
    if (cap) {
        int limit = level;
        if (strcmp(cap, "portable") == 0) limit = MR_SIMD_PORTABLE;
        else if (strcmp(cap, "avx2") == 0) limit = MR_SIMD_AVX2;
        else if (strcmp(cap, "avx512") == 0) limit = MR_SIMD_AVX512;
        if (limit < level) level = limit;
    }
    chosen_level = level;
}

int mr_cpu_simd_level(void) {
    pthread_once(&levels_once, choose_levels);
    return cpu_level;
}

int mr_simd_level(void) {
    pthread_once(&levels_once, choose_levels);
    return chosen_level;
}

void mr_sgemm_at_level(int level, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       float alpha, const float *a, ptrdiff_t lda,
                       const float *b, ptrdiff_t ldb,
                       float beta, float *c, ptrdiff_t ldc) {
    if (level > mr_cpu_simd_level()) abort();  // a caller's bug: this CPU lacks the instructions
    if (m <= 0 || n <= 0) return;
    // BLAS convention: with k == 0 or alpha == 0, A and B are not read.
    if (k <= 0 || alpha == 0.0f) {
        mr_gemm_scale_c(m, n, beta, c, ldc);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (level >= MR_SIMD_AVX512) {
        mr_sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (level == MR_SIMD_AVX2) {
        mr_sgemm_avx2(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    mr_sgemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void mr_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
              float alpha, const float *a, ptrdiff_t lda,
              const float *b, ptrdiff_t ldb,
              float beta, float *c, ptrdiff_t ldc) {
    mr_sgemm_at_level(mr_simd_level(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
