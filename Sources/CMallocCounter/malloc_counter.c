// A malloc counter for `metarec-bench serving` ("0 allocations per request after warm-up",
// as swift-nio tracks mallocCountTotal). On glibc a program may replace malloc by defining it
// (glibc manual, "Replacing malloc"); these definitions count and forward to glibc's own
// allocator through its __libc_* entry points, so every block still comes from, and returns
// to, the same allocator. Cost: one thread-local and one relaxed atomic increment.
#include "CMallocCounter.h"

// Sanitizers interpose malloc themselves; replacing it too crashes a sanitized process at
// start-up (seen with `swift test --sanitize=thread`), so sanitized builds count nothing.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define METAREC_NO_MALLOC_COUNTER 1
#endif
#endif

#if defined(__GLIBC__) && !defined(METAREC_NO_MALLOC_COUNTER)
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int64_t thread_count __attribute__((tls_model("initial-exec")));
static int64_t process_count;

static inline void count(void) {
    thread_count++;
    __atomic_fetch_add(&process_count, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count();
    void *p = __libc_memalign(alignment, size);
    if (p == NULL && size != 0) return ENOMEM;
    *out = p;
    return 0;
}

int64_t mr_malloc_count_thread(void) { return thread_count; }
int64_t mr_malloc_count_process(void) { return __atomic_load_n(&process_count, __ATOMIC_RELAXED); }
#else
int64_t mr_malloc_count_thread(void) { return -1; }
int64_t mr_malloc_count_process(void) { return -1; }
#endif
