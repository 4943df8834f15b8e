#ifndef CPREFETCH_H
#define CPREFETCH_H

/// Software prefetch for the parameter server's hash index (Swift has no prefetch intrinsic).
///
/// Unlike a load whose value is summed into a sink, a prefetch retires at once: a loop can put
/// dozens of cache misses in flight without filling the reorder buffer while they are pending.

/// Starts loading the cache line holding `p` for a later write (x86 `prefetchw`), into every
/// cache level. Never faults, whatever `p` is.
static inline void mr_prefetch_for_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// Starts loading the cache line holding `p` for reading, into every cache level.
static inline void mr_prefetch_for_read(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
