import Dispatch

/// Element-wise work over one buffer split across threads: `0 ..< count` is cut into at most
/// `threads` contiguous ranges of at least `minimumPerThread` elements, and `body` runs on each
/// concurrently (inline when there is one range). Used for the per-step passes over every
/// dense parameter (the gradient sum of the data-parallel workers, the Adam update), which
/// would otherwise run on one core between the parallel forward/backward phases.
///
/// `body` must only touch its own range of any buffer it writes.
enum ParallelRanges {
    /// Fewer elements than this per thread cost more in dispatch (≈ 5–10 µs) than they save.
    static let defaultMinimumPerThread = 16_384

    static func run(count: Int, threads: Int, minimumPerThread: Int = defaultMinimumPerThread,
                    _ body: @Sendable (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(minimumPerThread, 1)))
        guard parts > 1 else {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            body((p * count / parts)..<((p + 1) * count / parts))
        }
    }
}
