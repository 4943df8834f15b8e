import Foundation
import Logging
import ParamServer
import Serving

/// The server's write-ahead log of support rows (`docs/DESIGN.md` §HTTP, durable events): every
/// acknowledged `POST /v1/events` is one record (``EventLogFormat``) in the current segment of the
/// state directory before its 200, and replaying the segments after the last snapshot rebuilds
/// the support store exactly as the appends left it.
///
/// Invariants:
/// - **Log order is store order.** ``append(_:)`` writes the record and appends the rows to the
///   store under one lock, with the write time and model version it logged, so replay in file
///   order repeats the same appends.
/// - **No ack without the record.** A failed write is cut back (ftruncate) and the events are
///   refused (503); under ``EventFsync/always`` the reply also waits for an fsync covering the
///   record (``waitUntilDurable(_:)``), shared by every record written meanwhile (group commit).
///   A failed fsync refuses every waiting request and every later one until a snapshot has
///   covered the store (``checkpoint(_:)``): the rows of those requests may be in memory already.
/// - **Snapshots truncate.** ``checkpoint(_:)`` starts segment `n + 1` and writes the snapshot
///   recording `n + 1` under the same lock, then deletes segments ≤ `n`; see `EventLog+Recovery`.
///
/// Threading: `append` runs on the request's thread under an `NSCondition`'s lock; one thread
/// of its own (started by ``open(after:)``, stopped by ``close()``) runs the fsyncs of
/// ``EventFsync/always`` and ``EventFsync/everySecond``.
public final class EventLog: @unchecked Sendable {
    /// The state directory holding the segments.
    public let directory: String
    /// When records reach the disk, and so when an events request is answered.
    public let policy: EventFsync
    let store: SupportStore
    let logger: Logger
    let metrics: EventLogMetrics
    let rowWidth: Int
    let labelWidth: Int

    // Guarded by `lock`.
    let lock = NSCondition()
    var segment: EventLogSegmentFile?
    /// Segments on disk not yet covered by a snapshot, with their lengths (the bytes gauge).
    var liveSegments: [UInt64: Int] = [:]
    var written: UInt64 = 0
    var durable: UInt64 = 0
    var failure: String?
    var waiters: [(ticket: UInt64, continuation: CheckedContinuation<String?, Never>)] = []
    var stopping = false
    var syncerRunning = false
    /// Set by ``open(after:)`` before it replays: a store holding replayed records.
    var replayStarted = false
    /// Set by ``close()``: the position a snapshot after it records (the closed segment's id + 1).
    var closedPosition: UInt64?
    var scratch: [UInt8] = []

    /// A closed log over `store` in `directory`; ``open(after:)`` replays and opens it.
    init(directory: String, policy: EventFsync, store: SupportStore, logger: Logger, metrics: EventLogMetrics) {
        self.directory = directory
        self.policy = policy
        self.store = store
        self.logger = logger
        self.metrics = metrics
        rowWidth = store.config.rowWidth
        labelWidth = store.config.labelWidth
    }

    /// Logs `rows` and appends them to the store (the `commit` of
    /// ``Predictor/record(events:commit:)``).
    ///
    /// - Returns: the record's ticket for ``waitUntilDurable(_:)``.
    /// - Throws: ``ServingError/eventLogUnavailable(reason:)`` when the log is not open, has
    ///   failed, or the write fails; then nothing was appended.
    func append(_ rows: SupportRows) throws(ServingError) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw .eventLogUnavailable(reason: failure) }
        guard let segment else {
            throw .eventLogUnavailable(reason: "the event log in \(directory) is not open (restoreState() opens it)")
        }
        let now = store.now, version = store.modelVersion
        EventLogFormat.encodeRecord(sequence: written + 1, writeTime: now, version: version, rows: rows,
                                    rowWidth: rowWidth, labelWidth: labelWidth, into: &scratch)
        if let (error, restored) = segment.append(scratch) {
            metrics.failures.increment()
            if !restored {
                failure = "\(error) (and the segment could not be cut back: events are refused until a snapshot)"
                resumeWaiters()  // the fsync thread stops once failed: the waiting requests get the failure now
            }
            logger.error("event log write failed", metadata: ["path": "\(segment.path)", "error": "\(error.reason)"])
            throw .eventLogUnavailable(reason: error.description)
        }
        written += 1
        liveSegments[segment.id] = segment.length
        metrics.records.increment()
        metrics.bytes.record(liveSegments.values.reduce(0, +))
        store.append(rows, writeTime: now, version: version)
        if policy == .off { durable = written }
        return written
    }

    /// Returns once the record `ticket` is on disk under ``EventFsync/always`` (at once under the
    /// other policies).
    ///
    /// - Throws: ``ServingError/eventLogUnavailable(reason:)`` when the fsync failed.
    func waitUntilDurable(_ ticket: UInt64) async throws(ServingError) {
        guard policy == .always else { return }
        let failed: String? = await withCheckedContinuation { continuation in
            lock.lock()
            defer { lock.unlock() }
            if durable >= ticket { return continuation.resume(returning: nil) }
            if let failure { return continuation.resume(returning: failure) }
            waiters.append((ticket, continuation))
            lock.broadcast()  // the fsync thread (close() may wait on the same condition)
        }
        if let failed { throw .eventLogUnavailable(reason: failed) }
    }

    /// Resumes the waiters the durable point (or the failure) now answers. Under `lock`.
    func resumeWaiters() {
        var still: [(ticket: UInt64, continuation: CheckedContinuation<String?, Never>)] = []
        for w in waiters {
            if let failure {
                w.continuation.resume(returning: failure)
            } else if w.ticket <= durable {
                w.continuation.resume(returning: nil)
            } else {
                still.append(w)
            }
        }
        waiters = still
    }

    /// Starts the fsync thread (not for ``EventFsync/off``). Under `lock`.
    func startSyncer() {
        guard policy != .off, !syncerRunning else { return }
        syncerRunning = true
        let thread = Thread { [self] in runSyncer() }
        thread.name = "metarec-event-log-fsync"
        thread.start()
    }

    /// The fsync thread: under ``EventFsync/always`` whenever requests wait (one fsync for all
    /// records written by then), under ``EventFsync/everySecond`` once a second when anything was
    /// written; a last fsync at ``close()``.
    private func runSyncer() {
        lock.lock()
        var nextTick = Date().addingTimeInterval(1)
        while true {
            let now = Date()
            let tick = policy == .everySecond && now >= nextTick
            if tick { nextTick = now.addingTimeInterval(1) }
            let pending = written > durable && failure == nil
            guard pending && (stopping || !waiters.isEmpty || tick) else {
                if stopping { break }
                if policy == .everySecond { _ = lock.wait(until: nextTick) } else { lock.wait() }
                continue
            }
            guard let file = segment else { break }
            let target = written
            lock.unlock()
            let start = ContinuousClock.now
            let error = file.sync()
            metrics.fsyncs.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
            lock.lock()
            if let error {
                failure = "\(error) (events are refused until a snapshot covers the store; the rows of the waiting requests may be recorded already, so a retry may record them twice)"
                metrics.failures.increment()
                logger.error("event log fsync failed", metadata: ["path": "\(file.path)", "error": "\(error.reason)"])
            } else if file === segment {
                durable = max(durable, target)
            }
            resumeWaiters()
        }
        syncerRunning = false
        lock.broadcast()
        lock.unlock()
    }

    /// Stops the fsync thread after a last fsync, and closes the log: later events are refused.
    /// Called at shutdown, after the last snapshot.
    public func close() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while syncerRunning { lock.wait() }
        if let segment, written > durable, failure == nil, segment.sync() == nil { durable = written }
        failure = failure ?? "the event log in \(directory) is closed (the server is shutting down)"
        resumeWaiters()
        closedPosition = segment.map { $0.id + 1 } ?? closedPosition
        segment = nil
        lock.unlock()
    }
}
