// Private to CKernels: the rare path shared by every level of the top-N scans (topn_scan*.c):
// what happens to an item whose upper bound reaches the running threshold.
#ifndef METAREC_TOPN_INTERNAL_H
#define METAREC_TOPN_INTERNAL_H
#include <math.h>
#include "CKernels.h"

/// Sift `x` down from the root of the min-heap h[0..<n).
static inline void mr_topn_sift_down(float *h, ptrdiff_t n, float x) {
    ptrdiff_t c = 0;
    for (;;) {
        ptrdiff_t child = 2 * c + 1;
        if (child >= n) break;
        if (child + 1 < n && h[child + 1] < h[child]) child++;
        if (!(h[child] < x)) break;
        h[c] = h[child];
        c = child;
    }
    h[c] = x;
}

/// Keeps the candidates whose upper bound still reaches the threshold (or is NaN); 0 when
/// the buffer is still more than half full afterwards (the scan then gives up: overflow).
static inline int mr_topn_compact(mr_topn_state *st) {
    ptrdiff_t kept = 0;
    for (ptrdiff_t i = 0; i < st->count; i++) {
        if (st->bounds[i] < st->threshold) continue;
        st->ids[kept] = st->ids[i];
        st->bounds[kept] = st->bounds[i];
        kept++;
    }
    st->count = kept;
    return kept <= st->capacity / 2;
}

/// Item `id` with bounds lower <= exact score <= upper (upper = lower = the score in an exact
/// scan): its lower bound joins the heap of the k best lower bounds (the threshold is that
/// heap's minimum once full) and, if upper reaches the threshold, it becomes a candidate.
/// Padding lanes (id >= n) and excluded ids are ignored. A non-finite lower bound never enters
/// the heap (it bounds nothing), a NaN upper bound always makes a candidate.
static inline void mr_topn_offer(mr_topn_state *st, ptrdiff_t id, float upper, float lower) {
    if (id >= st->n || st->overflow) return;
    if (st->excluded && ((st->excluded[id >> 6] >> (id & 63)) & 1u)) return;
    if (upper < st->threshold) return;
    if (isfinite(lower) && st->k > 0) {
        if (st->heap_size < st->k) {
            ptrdiff_t c = st->heap_size++;
            while (c > 0) {
                ptrdiff_t parent = (c - 1) / 2;
                if (!(st->heap[parent] > lower)) break;
                st->heap[c] = st->heap[parent];
                c = parent;
            }
            st->heap[c] = lower;
        } else if (lower > st->heap[0]) {
            mr_topn_sift_down(st->heap, st->k, lower);
        }
        if (st->heap_size == st->k) st->threshold = st->heap[0];
    }
    if (st->count == st->capacity && !mr_topn_compact(st)) { st->overflow = 1; return; }
    st->ids[st->count] = (int32_t)id;
    st->bounds[st->count] = upper;
    st->count++;
}
#endif
