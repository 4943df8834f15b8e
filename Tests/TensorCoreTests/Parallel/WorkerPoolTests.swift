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

    @Test(arguments: [0, 1, 15, 16, 17, 4095, 8192, 8193, 100_003])
    func `forEachRange covers every index once`(count: Int) {
        let pool = WorkerPool(threads: 2)
        let visits = Visits(count)
        pool.forEachRange(count: count, minimumPerPart: 4096, granule: 16) { visits.visit($0) }
        #expect(visits.all.allSatisfy { $0 == 1 })
        let parts = visits.ranges
        // Split only when each part gets at least the minimum; inner boundaries on the granule.
        #expect(parts.count == (count >= 2 * 4096 ? 2 : 1))
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

    /// Many jobs back to back (helpers spinning) and with pauses longer than the spin limit
    /// (helpers parked): a lost wake-up would hang, a torn hand-over would miscount.
    @Test func `jobs back to back and after parking all complete`() async throws {
        let pool = WorkerPool(threads: 2)
        let total = Atomic(0)
        for job in 0..<2_000 {
            pool.run(parts: 2) { t in total.add(t + 1, ordering: .relaxed) }
            if job % 250 == 0 { try await Task.sleep(for: .milliseconds(2)) }
        }
        let sum = total.load(ordering: .relaxed)
        #expect(sum == 2_000 * 3)
    }

    @Test func `pools are created and destroyed without leaking a running job`() {
        for _ in 0..<50 {
            let pool = WorkerPool(threads: 2)
            let hits = Atomic(0)
            pool.run(parts: 2) { _ in hits.add(1, ordering: .relaxed) }
            let count = hits.load(ordering: .relaxed)
            #expect(count == 2)
        }
    }
}
