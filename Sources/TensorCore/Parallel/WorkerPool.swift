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
/// Why not `DispatchQueue.concurrentPerform`: a training step is short, and waking a parked
/// dispatch thread is a noticeable part of it. Helpers here poll for ``spinLimit`` after a job,
/// so the next job (the gradient sum a few microseconds later, the next step) starts at once;
/// then they park on a condition variable and cost nothing while training is idle. Polling
/// issues the CPU's `pause` hint, which keeps a spinning helper from slowing its sibling
/// hyperthread or core. The measured costs are in `Sources/TensorCore/README.md`.
///
/// Threading: one job at a time; ``run(parts:_:)`` is not for concurrent callers. The helpers
/// stop when the pool is deinitialised.
public final class WorkerPool: @unchecked Sendable {
    /// Threads that work on a job, the caller included (≥ 1).
    public let threads: Int
    /// How long an idle helper (or the caller, waiting for helpers) polls before parking; zero
    /// when the pool has more threads than the machine has cores, where polling would take
    /// the core from the thread being waited for.
    public let spinLimit: Duration
    let team: Team

    public init(threads: Int) {
        precondition(threads >= 1, "WorkerPool: threads must be >= 1, got \(threads)")
        self.threads = threads
        spinLimit = threads <= ProcessInfo.processInfo.activeProcessorCount ? .microseconds(200) : .zero
        team = Team(helpers: threads - 1, spinLimit: spinLimit)
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
    ///
    /// The parts run concurrently: `body` must not write what another part reads. The compiler
    /// does not check this (the closure is not `@Sendable`, so it can capture buffers and
    /// `inout` arguments). With `parts ≥ 2`, calling `run` again before it returns — from a
    /// part, or from another thread — is a precondition failure.
    public func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts >= 1 && parts <= threads, "WorkerPool.run: \(parts) parts for \(threads) threads")
        if parts == 1 { return body(0) }
        let busy = team.running.exchange(true, ordering: .acquiring)
        precondition(!busy, "WorkerPool.run: called while a job is running (from a part, or from two threads)")
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

    /// Splits `0..<count` into `min(threads, count / minimumPerPart)` contiguous ranges (at
    /// least one) and runs `body` on each, in parallel. Inner boundaries are multiples of
    /// `granule` (so a part may fall a little under the minimum).
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
    /// the caller writes the next job's. Both sides poll, then park: helpers on `jobPosted`,
    /// the caller on `jobDone`; every wake-up is sent under `mutex`, and every sleeper re-checks
    /// its condition under it, so none is lost.
    final class Team: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let unfinished = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        /// A job is in flight: guards against nested and concurrent ``WorkerPool/run(parts:_:)``.
        let running = Atomic<Bool>(false)
        /// Helper threads that have started and not yet returned (tests check they stop).
        let liveHelpers = Atomic<Int>(0)
        var job: ((Int) -> Void)?
        var parts = 0
        let helpers: Int
        let spinLimit: Duration
        // Heap-allocated: pthread objects must not move, and `&property` promises no address.
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let jobPosted = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private let jobDone = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init(helpers: Int, spinLimit: Duration) {
            self.helpers = helpers
            self.spinLimit = spinLimit
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(jobPosted, nil)
            pthread_cond_init(jobDone, nil)
        }

        deinit {
            pthread_cond_destroy(jobDone)
            pthread_cond_destroy(jobPosted)
            pthread_mutex_destroy(mutex)
            jobDone.deallocate()
            jobPosted.deallocate()
            mutex.deallocate()
        }

        func start(parts: Int, body: @escaping (Int) -> Void) {
            job = body
            self.parts = parts
            unfinished.store(helpers, ordering: .relaxed)
            pthread_mutex_lock(mutex)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(jobPosted)
            pthread_mutex_unlock(mutex)
        }

        /// Polls, then parks until every helper has acknowledged the job.
        func waitForHelpers() {
            if !poll(until: { unfinished.load(ordering: .acquiring) == 0 }) {
                pthread_mutex_lock(mutex)
                while unfinished.load(ordering: .acquiring) > 0 { pthread_cond_wait(jobDone, mutex) }
                pthread_mutex_unlock(mutex)
            }
            job = nil
        }

        func stop() {
            pthread_mutex_lock(mutex)
            stopping.store(true, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            pthread_cond_broadcast(jobPosted)
            pthread_mutex_unlock(mutex)
        }

        /// A helper's loop: wait for the next generation, run its part if the job has one.
        func serve(part: Int) {
            liveHelpers.add(1, ordering: .relaxed)
            defer { liveHelpers.subtract(1, ordering: .releasing) }
            var seen = 0
            while true {
                seen = waitForJob(after: seen)
                if stopping.load(ordering: .relaxed) { return }
                if part < parts {
                    // Scoped, so the helper's reference to the closure is gone before it reports:
                    // `withoutActuallyEscaping` checks that nothing holds it afterwards.
                    do { job!(part) }
                }
                if unfinished.subtract(1, ordering: .releasing).newValue == 0 {
                    // The last helper wakes a parked caller (a no-op when it is polling).
                    pthread_mutex_lock(mutex)
                    pthread_cond_signal(jobDone)
                    pthread_mutex_unlock(mutex)
                }
            }
        }

        /// Polls, then parks; returns the new generation.
        private func waitForJob(after seen: Int) -> Int {
            if poll(until: { generation.load(ordering: .acquiring) != seen }) { return generation.load(ordering: .acquiring) }
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(jobPosted, mutex) }
            return generation.load(ordering: .acquiring)
        }

        /// Polls `done` with the `pause` hint for up to `spinLimit`; whether it became true.
        private func poll(until done: () -> Bool) -> Bool {
            if done() { return true }
            guard spinLimit > .zero else { return false }
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: spinLimit)
            var polls = 0
            while true {
                if done() { return true }
                mr_cpu_relax()
                polls += 1
                if polls & 255 == 0, clock.now >= deadline { return false }
            }
        }
    }
}
