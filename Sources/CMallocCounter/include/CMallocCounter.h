#ifndef METAREC_MALLOC_COUNTER_H
#define METAREC_MALLOC_COUNTER_H

#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by
/// the calling thread since it started. Returns -1 where the counter is not available
/// (non-glibc platforms).
int64_t mr_malloc_count_thread(void);

/// Heap allocations made by every thread of the process (relaxed atomic).
int64_t mr_malloc_count_process(void);

#endif
