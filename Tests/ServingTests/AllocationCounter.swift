import CMallocCounter

/// Heap allocations of the calling thread (the glibc malloc counter linked into `metarec`).
enum AllocationCounter {
    /// Allocations per request the release-build test tolerates: Serving's own code allocates
    /// nothing after warm-up; what remains (31 + 6 per inner step at K = 2, measured with
    /// `metarec bench serving`) is in Models/TensorCore: array-literal shapes in
    /// `MLPActivations.prepare` / `NetworkWorkspace.prepare`, the `Softmax` copy in
    /// `MultiTaskNetwork.forwardBottom`, and `MLP.backward` sharing `dLogits` (copied on the
    /// next `fill`). Lower this to 0 when those are fixed upstream.
    static let perRequestBudget = 31 + 6 * 3

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
