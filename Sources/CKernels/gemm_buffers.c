// Per-thread packing buffers: bounded (352 KiB per calling thread), allocated on first use,
// released by a pthread key destructor when the thread exits. No locks on the hot path.
#include "gemm_internal.h"
#include <pthread.h>
#include <stdlib.h>

static pthread_key_t buffer_key;
static pthread_once_t buffer_key_once = PTHREAD_ONCE_INIT;

static void make_buffer_key(void) {
    if (pthread_key_create(&buffer_key, free) != 0) abort();
}

float *mr_gemm_thread_buffer(void) {
    pthread_once(&buffer_key_once, make_buffer_key);
    float *buffer = pthread_getspecific(buffer_key);
    if (buffer) return buffer;
    buffer = aligned_alloc(64, sizeof(float) * MR_GEMM_BUFFER_FLOATS);
    if (!buffer || pthread_setspecific(buffer_key, buffer) != 0) abort();
    return buffer;
}

void mr_gemm_scale_c(ptrdiff_t m, ptrdiff_t n, float beta, float *c, ptrdiff_t ldc) {
    if (beta == 1.0f) return;
    for (ptrdiff_t i = 0; i < m; ++i) {
        float *row = c + i * ldc;
        if (beta == 0.0f) {
            for (ptrdiff_t j = 0; j < n; ++j) row[j] = 0.0f;
        } else {
            for (ptrdiff_t j = 0; j < n; ++j) row[j] *= beta;
        }
    }
}
