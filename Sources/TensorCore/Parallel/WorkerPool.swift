import CKernels
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed team of `threads − 1` helper threads that run the parts of a job together with the
/// caller: ``run(parts:_:)`` calls `body(0)` on the calling thread and `body(t)` on helper `t`.
///
/// Why not `DispatchQueue.concurrentPerform`: a training step is ≈ 0.6 ms of work, and waking a
/// parked dispatch thread cost ≈ 0.05 ms of it per step (measured on the 2-core benchmark
/// machine). Helpers here poll for ``spinLimit`` after a job, so the next job — the gradient
/// sum a few microseconds later, the next step — starts in ≈ 0.3 µs; then they park on a
/// condition variable and cost nothing while training is idle. Polling issues the CPU's
/// `pause` hint: without it, 2-thread training ran slower than with `concurrentPerform`.
///
/// Threading: one job at a time; ``run(parts:_:)`` is not for concurrent callers. The helpers
/// stop when the pool is deinitialised.
public final class WorkerPool: @unchecked Sendable {
    /// Threads that work on a job, the caller included (≥ 1).
    public let threads: Int
    /// How long an idle helper polls for the next job before parking.
    public static let spinLimit: Duration = .microseconds(200)
    private let team: Team

    public init(threads: Int) {
        precondition(threads >= 1, "WorkerPool: threads must be >= 1, got \(threads)")
        self.threads = threads
        team = Team()
        team.helpers = threads - 1
        for helper in 1..<threads {
            let team = team
            let thread = Thread { team.serve(part: helper) }
            thread.name = "metarec-worker-\(helper)"
            thread.start()
        }
    }

    deinit { team.stop() }

    /// Runs `body(t)` for `t` in `0..<parts`, part 0 on the calling thread, and returns when
    /// every part has finished. `parts` is at most ``threads``.
    public func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts >= 1 && parts <= threads, "WorkerPool.run: \(parts) parts for \(threads) threads")
        if parts == 1 { return body(0) }
        precondition(team.running.exchange(true, ordering: .acquiring) == false,
                     "WorkerPool.run: called while a job is running (from a part, or from two threads)")
        withoutActuallyEscaping(body) { body in
            team.start(parts: parts, body: body)
            body(0)
            team.waitForHelpers()
        }
        team.running.store(false, ordering: .releasing)
    }

    /// Runs `first` on the caller and `second` on a helper at the same time (one after the
    /// other on a one-thread pool), and returns when both have finished. Neither may use the
    /// pool itself.
    public func overlap(_ first: () -> Void, with second: () -> Void) {
        guard threads > 1 else {
            first()
            return second()
        }
        run(parts: 2) { t in if t == 0 { first() } else { second() } }
    }

    /// Splits `0..<count` into ``threads`` contiguous ranges (multiples of `granule`) and runs
    /// `body` on each, in parallel; one range on the caller when `count < minimumPerPart · 2`.
    public func forEachRange(count: Int, minimumPerPart: Int = 4096, granule: Int = 16, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(minimumPerPart, 1)))
        if parts == 1 { return body(0..<count) }
        run(parts: parts) { t in
            let start = min(count, (t * count / parts + granule - 1) / granule * granule)
            let end = t == parts - 1 ? count : min(count, ((t + 1) * count / parts + granule - 1) / granule * granule)
            body(start..<end)
        }
    }

    /// The state shared with the helper threads. `generation` counts jobs; a helper whose last
    /// job was generation `g` waits for `g + 1`. `job` and `parts` are written before the
    /// releasing increment of `generation` and read after an acquiring load of it; every
    /// helper acknowledges every job (those without a part too), so none still reads them when
    /// the caller writes the next job's.
    private final class Team: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let unfinished = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        /// A job is in flight: guards against nested and concurrent ``WorkerPool/run(parts:_:)``.
        let running = Atomic<Bool>(false)
        var job: ((Int) -> Void)?
        var parts = 0
        var helpers = 0
        // Heap-allocated: pthread objects must not move, and `&property` promises no address.
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(condition, nil)
        }

        deinit {
            pthread_cond_destroy(condition)
            pthread_mutex_destroy(mutex)
            condition.deallocate()
            mutex.deallocate()
        }

        func start(parts: Int, body: @escaping (Int) -> Void) {
            job = body
            self.parts = parts
            unfinished.store(helpers, ordering: .relaxed)
            // Under the mutex, so a helper that found no new job and is about to wait cannot
            // miss this increment's broadcast.
            pthread_mutex_lock(mutex)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }

        func waitForHelpers() {
            var spins = 0
            while unfinished.load(ordering: .acquiring) > 0 {
                spins += 1
                mr_cpu_relax()
                // A helper descheduled by another process: give the core back instead of spinning.
                if spins > 4096 { sched_yield() }
            }
            job = nil
        }

        func stop() {
            pthread_mutex_lock(mutex)
            stopping.store(true, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }

        /// A helper's loop: wait for the next generation, run its part if the job has one.
        func serve(part: Int) {
            var seen = 0
            while true {
                seen = waitForJob(after: seen)
                if stopping.load(ordering: .relaxed) { return }
                if part < parts {
                    // Scoped, so the helper's reference to the closure is gone before it reports:
                    // `withoutActuallyEscaping` checks that nothing holds it afterwards.
                    do { job!(part) }
                }
                unfinished.subtract(1, ordering: .releasing)
            }
        }

        /// Spins for ``WorkerPool/spinLimit``, then parks; returns the new generation.
        private func waitForJob(after seen: Int) -> Int {
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: WorkerPool.spinLimit)
            var polls = 0
            while true {
                let current = generation.load(ordering: .acquiring)
                if current != seen { return current }
                mr_cpu_relax()
                polls += 1
                if polls & 255 == 0, clock.now >= deadline { break }
            }
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(condition, mutex) }
            return generation.load(ordering: .acquiring)
        }
    }
}
