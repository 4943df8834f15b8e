import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import TensorCore

/// Counts, per index, how many times a part or range element was visited, and the ranges
/// seen. An `NSLock` (pthread) rather than `Mutex`, whose futex the thread sanitizer cannot see.
private final class Visits: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Int]
    private var seen: [Range<Int>] = []
    init(_ n: Int) { counts = [Int](repeating: 0, count: n) }
    func visit(_ i: Int) { lock.withLock { counts[i] += 1 } }
    func visit(_ range: Range<Int>) {
        lock.withLock {
            seen.append(range)
            for i in range { counts[i] += 1 }
        }
    }
    var all: [Int] { lock.withLock { counts } }
    var ranges: [Range<Int>] { lock.withLock { seen } }
}

@Suite struct WorkerPoolTests {
    @Test(arguments: [1, 2, 3])
    func `run calls every part exactly once`(threads: Int) {
        let pool = WorkerPool(threads: threads)
        for parts in 1...threads {
            let visits = Visits(parts)
            pool.run(parts: parts) { visits.visit($0) }
            #expect(visits.all == [Int](repeating: 1, count: parts))
        }
    }

    @Test func `part 0 runs on the calling thread`() {
        let pool = WorkerPool(threads: 2)
        let caller = pthread_self()
        let onCaller = Atomic(false)
        pool.run(parts: 2) { t in if t == 0 { onCaller.store(pthread_equal(pthread_self(), caller) != 0, ordering: .relaxed) } }
        let ranOnCaller = onCaller.load(ordering: .relaxed)
        #expect(ranOnCaller)
    }

    @Test(arguments: [2, 3], [0, 1, 15, 16, 17, 4095, 8192, 8193, 12_289, 100_003])
    func `forEachRange covers every index once`(threads: Int, count: Int) {
        let pool = WorkerPool(threads: threads)
        let visits = Visits(count)
        pool.forEachRange(count: count, minimumPerPart: 4096, granule: 16) { visits.visit($0) }
        #expect(visits.all.allSatisfy { $0 == 1 })
        let parts = visits.ranges
        // As many parts as threads that each get the minimum; inner boundaries on the granule.
        #expect(parts.count == max(1, min(threads, count / 4096)))
        for r in parts where r.lowerBound != 0 { #expect(r.lowerBound % 16 == 0) }
    }

    @Test func `overlap runs both halves, also on one thread`() {
        for threads in [1, 2] {
            let pool = WorkerPool(threads: threads)
            let first = Atomic(0), second = Atomic(0)
            pool.overlap { first.add(1, ordering: .relaxed) } with: { second.add(1, ordering: .relaxed) }
            let (a, b) = (first.load(ordering: .relaxed), second.load(ordering: .relaxed))
            #expect(a == 1 && b == 1)
        }
    }

    /// With two threads the halves run at the same time: each waits (bounded) for the other to
    /// have started, which a sequential implementation would never see.
    @Test(.timeLimit(.minutes(1)))
    func `overlap runs its halves concurrently`() {
        let pool = WorkerPool(threads: 2)
        let started = Atomic(0)
        let sawOther = Atomic(0)
        func meet() {
            started.add(1, ordering: .acquiringAndReleasing)
            let clock = ContinuousClock(), deadline = clock.now.advanced(by: .seconds(10))
            while started.load(ordering: .acquiring) < 2, clock.now < deadline { sched_yield() }
            if started.load(ordering: .acquiring) == 2 { sawOther.add(1, ordering: .relaxed) }
        }
        pool.overlap { meet() } with: { meet() }
        let both = sawOther.load(ordering: .relaxed)
        #expect(both == 2)
    }

    /// Many jobs back to back (helpers spinning) and with pauses longer than the spin limit
    /// (helpers parked): a lost wake-up would hang, a torn hand-over would miscount.
    @Test(.timeLimit(.minutes(1)))
    func `jobs back to back and after parking all complete`() async throws {
        let pool = WorkerPool(threads: 2)
        let total = Atomic(0)
        for job in 0..<2_000 {
            pool.run(parts: 2) { t in total.add(t + 1, ordering: .relaxed) }
            if job % 250 == 0 { try await Task.sleep(for: .milliseconds(2)) }
        }
        let sum = total.load(ordering: .relaxed)
        #expect(sum == 2_000 * 3)
    }

    /// A caller whose helper works for longer than the polling limit parks and is woken.
    @Test(.timeLimit(.minutes(1)))
    func `a caller waiting on a slow helper is woken`() {
        let pool = WorkerPool(threads: 2)
        let done = Atomic(false)
        pool.run(parts: 2) { t in
            if t == 1 {
                usleep(20_000)  // 100 × the polling limit
                done.store(true, ordering: .releasing)
            }
        }
        let finished = done.load(ordering: .acquiring)
        #expect(finished)
    }

    /// Releasing a pool stops its helper threads (its team outlives it here, to count them).
    @Test(.timeLimit(.minutes(1)), arguments: [2, 3])
    func `releasing a pool stops its helpers`(threads: Int) async throws {
        var pool: WorkerPool? = WorkerPool(threads: threads)
        let team = pool!.team
        let hits = Atomic(0)
        pool!.run(parts: threads) { _ in hits.add(1, ordering: .relaxed) }
        let count = hits.load(ordering: .relaxed)
        #expect(count == threads)
        var live = team.liveHelpers.load(ordering: .acquiring)
        for _ in 0..<1000 where live != threads - 1 {  // helpers may still be starting
            try await Task.sleep(for: .milliseconds(1))
            live = team.liveHelpers.load(ordering: .acquiring)
        }
        #expect(live == threads - 1)
        pool = nil
        for _ in 0..<5000 where live > 0 {
            try await Task.sleep(for: .milliseconds(1))
            live = team.liveHelpers.load(ordering: .acquiring)
        }
        #expect(live == 0)
    }

    /// More threads than cores: no polling (it would take the core from the thread awaited),
    /// and jobs still complete.
    @Test(.timeLimit(.minutes(1)))
    func `an oversubscribed pool parks instead of polling`() {
        let threads = ProcessInfo.processInfo.activeProcessorCount + 1
        let pool = WorkerPool(threads: threads)
        #expect(pool.spinLimit == .zero)
        #expect(WorkerPool(threads: 1).spinLimit > .zero)
        let total = Atomic(0)
        for _ in 0..<200 { pool.run(parts: threads) { t in total.add(t, ordering: .relaxed) } }
        let sum = total.load(ordering: .relaxed)
        #expect(sum == 200 * threads * (threads - 1) / 2)
    }
}
