import CMallocCounter

/// Heap allocations of the calling thread (the glibc malloc counter that `metarec-bench` and
/// this test target link; `metarec` does not).
enum AllocationCounter {
    /// Allocations per request the release-build test tolerates: none. `metarec-bench serving`
    /// measures the same count (0.0 per request on the reference config) with the same counter.
    static let perRequestBudget = 0

    /// Whether this is an optimised build: unoptimised code allocates for array literals and
    /// unspecialised generics, so the allocation count means something only in release.
    static var isOptimized: Bool { !_isDebugAssertConfiguration() }

    /// Allocations made by `body` on this thread, or `nil` without a counter.
    static func count(_ body: () throws -> Void) rethrows -> Int? {
        let before = mr_malloc_count_thread()
        guard before >= 0 else { return nil }
        try body()
        return Int(mr_malloc_count_thread() - before)
    }
}
