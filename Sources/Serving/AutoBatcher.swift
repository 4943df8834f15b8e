import Foundation
import Logging

/// Merges concurrent score requests into batches (`docs/DESIGN.md` §Serving, auto-batching): a
/// worker takes the oldest waiting request, waits at most `maxWait` (from that request's
/// arrival) for up to `maxRequests` to gather — but stops as soon as no request has arrived for
/// `maxWait / 4` (``BatchQueue/batchClosing(oldest:newest:maxWait:)``), so a lone client is held
/// a quarter of the wait, not all of it — then runs ``Predictor/scoreBatch(_:into:workspace:)``:
/// the bottom once over all `Σ C_r` candidates, then each request's own inner loop with its own
/// weights and its own normaliser, so its scores equal those it would get alone.
///
/// Threading: ``start()`` launches `workers` dedicated threads (CPU-bound work stays off the
/// Swift concurrency pool and the server's event loops); each owns one
/// ``PredictorWorkspace``. Callers `await` ``score(_:)``; the queue is guarded by one
/// condition lock. ``shutdown()`` stops intake, lets the workers drain what is queued and
/// joins them. Nothing starts implicitly.
public final class AutoBatcher: Sendable {
    /// Bounds of one batch.
    public struct Configuration: Sendable, Equatable {
        /// Most requests merged into one batch (`R`), ≥ 1.
        public var maxRequests: Int
        /// Longest a request waits for others to join its batch.
        public var maxWait: Duration
        /// Worker threads, ≥ 1.
        public var workers: Int

        public init(maxRequests: Int, maxWait: Duration, workers: Int) {
            precondition(maxRequests >= 1 && workers >= 1 && maxWait >= .zero,
                         "AutoBatcher.Configuration: maxRequests \(maxRequests), workers \(workers), maxWait \(maxWait)")
            self.maxRequests = maxRequests
            self.maxWait = maxWait
            self.workers = workers
        }
    }

    public let predictor: Predictor
    public let configuration: Configuration
    /// Start and drain are logged (`info`); nothing is logged per request or batch.
    public let logger: Logger
    let queue: BatchQueue

    /// - Parameter logger: the process's logger (the server passes its own).
    public init(predictor: Predictor, configuration: Configuration, logger: Logger = Logger(label: "metarec")) {
        self.predictor = predictor
        self.configuration = configuration
        self.logger = logger
        queue = BatchQueue()
    }

    /// Starts the worker threads (once).
    public func start() {
        guard queue.markStarted() else { return }
        for w in 0..<configuration.workers {
            queue.group.enter()
            let thread = Thread { [self] in
                workerLoop()
                queue.group.leave()
            }
            thread.name = "metarec-batch-\(w)"
            thread.start()
        }
        logger.info("auto-batcher started", metadata: [
            "workers": "\(configuration.workers)", "max_requests": "\(configuration.maxRequests)",
            "max_wait": "\(configuration.maxWait)",
        ])
    }

    /// Validates `request`, queues it and returns its scores once its batch has run.
    ///
    /// - Throws: the validation ``ServingError``; ``ServingError/shuttingDown`` after ``shutdown()``.
    public func score(_ request: ScoreRequest) async throws(ServingError) -> ScoreResult {
        try predictor.validate(request)
        let result = await withCheckedContinuation { (continuation: BatchQueue.Continuation) in
            if !queue.enqueue(BatchQueue.Pending(request: request, arrival: .now, continuation: continuation)) {
                continuation.resume(returning: .failure(.shuttingDown))
            }
        }
        return try result.get()
    }

    /// Stops intake, drains the queued requests and joins the workers.
    public func shutdown() async {
        queue.close()
        guard queue.wasStarted else { queue.failAll(); return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            queue.group.notify(queue: .global()) { c.resume() }
        }
        logger.info("auto-batcher drained", metadata: ["batches": "\(predictor.metrics.batches.batches)"])
    }

    private func workerLoop() {
        var ws = predictor.makeWorkspace()
        var pending: [BatchQueue.Pending] = []
        var requests: [ScoreRequest] = []
        var results: [Result<ScoreResult, ServingError>] = []
        pending.reserveCapacity(configuration.maxRequests)
        requests.reserveCapacity(configuration.maxRequests)
        while queue.next(into: &pending, maxRequests: configuration.maxRequests, maxWait: configuration.maxWait) {
            requests.removeAll(keepingCapacity: true)
            for p in pending { requests.append(p.request) }
            predictor.scoreBatch(requests, into: &results, workspace: &ws)
            predictor.metrics.recordBatch(requests: requests.count)
            for (i, p) in pending.enumerated() { p.continuation.resume(returning: results[i]) }
            pending.removeAll(keepingCapacity: true)
        }
    }
}

/// The auto-batcher's queue: requests in arrival order under one condition lock.
///
/// `@unchecked Sendable`: every mutable field is read and written only while `condition` is held.
final class BatchQueue: @unchecked Sendable {
    typealias Continuation = CheckedContinuation<Result<ScoreResult, ServingError>, Never>

    struct Pending {
        var request: ScoreRequest
        var arrival: ContinuousClock.Instant
        var continuation: Continuation
    }

    let condition = NSCondition()
    let group = DispatchGroup()
    private var waiting: [Pending] = []
    /// Workers inside ``next(into:maxRequests:maxWait:)`` (not running a batch).
    private var idleWorkers = 0
    private var closed = false
    private var started = false

    func markStarted() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if started || closed { return false }
        started = true
        return true
    }

    var wasStarted: Bool {
        condition.lock()
        defer { condition.unlock() }
        return started
    }

    /// Queues `p`; `false` once closed.
    func enqueue(_ p: Pending) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        waiting.append(p)
        condition.broadcast()
        return true
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Fails every queued request (shutdown without workers).
    func failAll() {
        condition.lock()
        let all = waiting
        waiting.removeAll()
        condition.unlock()
        for p in all { p.continuation.resume(returning: .failure(.shuttingDown)) }
    }

    /// Blocks until at least one request waits, then gathers until `maxRequests` wait or
    /// ``batchClosing(oldest:newest:maxWait:)``; moves up to `maxRequests` into `batch`, but leaves
    /// an equal share for each other worker that is idle, so concurrent requests spread over
    /// the workers instead of queueing behind one batch. Returns `false` when closed and empty
    /// (the worker exits).
    func next(into batch: inout [Pending], maxRequests: Int, maxWait: Duration) -> Bool {
        condition.lock()
        idleWorkers += 1
        defer {
            idleWorkers -= 1
            condition.unlock()
        }
        while true {
            while waiting.isEmpty && !closed { condition.wait() }
            if waiting.isEmpty { return false }
            while !closed, !waiting.isEmpty, waiting.count < maxRequests {
                let newest = waiting.lazy.map(\.arrival).max()!   // stamped before the lock: nearly in order
                let deadline = Self.batchClosing(oldest: waiting[0].arrival, newest: newest, maxWait: maxWait)
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero { break }
                let (s, atto) = remaining.components
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(s) + Double(atto) * 1e-18))
            }
            // Another worker may have taken them while this one slept.
            if !waiting.isEmpty { break }
        }
        let others = idleWorkers - 1  // other workers inside `next`, free to take a share
        let share = (waiting.count + others) / (others + 1)  // ⌈waiting / (others + 1)⌉
        let n = min(maxRequests, share)
        batch.append(contentsOf: waiting[0..<n])
        waiting.removeFirst(n)
        if !waiting.isEmpty { condition.broadcast() }  // the rest is for the idle workers
        return true
    }

    /// When a gathering batch closes: `maxWait` after its oldest request arrived, or `maxWait / 4`
    /// after the newest one did, whichever is first.
    ///
    /// Concurrent clients arrive in bursts (microseconds apart), so a batch keeps growing while
    /// the burst lasts; a lone client (one request per round trip) sends nothing more, so its
    /// request runs after the quiet `maxWait / 4` instead of the whole `maxWait`. A shorter quiet
    /// time holds the sequential client less but splits the bursts of concurrent clients, whose
    /// resubmissions spread over a good part of the wait (measured in the Serving README).
    static func batchClosing(oldest: ContinuousClock.Instant, newest: ContinuousClock.Instant,
                             maxWait: Duration) -> ContinuousClock.Instant {
        min(oldest + maxWait, newest + maxWait / 4)
    }
}
