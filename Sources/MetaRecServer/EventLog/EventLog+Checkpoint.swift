#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Whether anything was logged that no snapshot covers yet (a periodic snapshot is skipped
    /// otherwise).
    var hasUncoveredRecords: Bool {
        lock.lock()
        defer { lock.unlock() }
        return liveSegments.values.contains { $0 > EventLogFormat.headerBytes }
    }

    /// Takes a snapshot that truncates the log. Under the log's lock, so no event is appended
    /// meanwhile (events wait for the snapshot):
    ///
    /// ```
    /// 1. fsync segment n                     every record so far is on disk
    /// 2. create segment n + 1 (atomically)   new events go there
    /// 3. writeSnapshot(n + 1)                the snapshot holds exactly segments ≤ n
    /// 4. delete segments ≤ n
    /// ```
    ///
    /// A crash before 3 completes leaves the previous snapshot (recording some `m ≤ n`) and
    /// segments `m … n + 1`: replay repeats them all, nothing lost. A crash after 3 leaves the new
    /// snapshot recording `n + 1`: segments ≤ n are ignored and deleted at the next start, so
    /// nothing is applied twice. A failure at 2 or 3 is thrown with the earlier state intact.
    /// A successful snapshot also lifts an earlier write or fsync failure: the store it covers
    /// holds every row of the failed segment.
    ///
    /// - Parameter writeSnapshot: writes the store's snapshot recording the position it is given
    ///   (``SupportStore/snapshot(to:journalPosition:)``).
    /// - Returns: the position recorded. With the log not open: 0 before ``open(after:)`` (the
    ///   store holds no record of the log), the closed segment's id + 1 after ``close()`` (the
    ///   store holds every record); nothing truncated either way.
    /// - Throws: ``EventLogError`` after an ``open(after:)`` that failed part-way through its
    ///   replay: the store holds some records, so no position would be right.
    @discardableResult
    func checkpoint(_ writeSnapshot: (UInt64) throws -> Void) throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        defer { resumeWaiters() }  // also when a step throws: `durable` may have moved
        guard let old = segment else {
            if let closedPosition {
                try writeSnapshot(closedPosition)
                return closedPosition
            }
            guard !replayStarted else {
                throw EventLogError(path: directory, reason: "the event log failed to open after replaying part of it: a snapshot now would apply those records twice")
            }
            try writeSnapshot(0)
            return 0
        }
        if failure == nil {
            if let error = old.sync() {
                failure = "\(error) (events are refused until a snapshot covers the store)"
                metrics.failures.increment()
            } else {
                durable = written
            }
        }
        let next = try EventLogSegmentFile(creating: old.id + 1, in: directory, rowWidth: rowWidth, labelWidth: labelWidth)
        segment = next
        liveSegments[next.id] = next.length
        try writeSnapshot(next.id)
        for id in liveSegments.keys where id < next.id {
            let path = segmentPath(id)
            if unlink(path) != 0 && errno != ENOENT {
                logger.warning("cannot remove an event log segment the snapshot covers", metadata: ["path": "\(path)"])
            }
            liveSegments[id] = nil
        }
        if failure != nil {
            logger.notice("event log usable again: the snapshot covers the rows of the failed segment")
            failure = nil
        }
        durable = written
        metrics.bytes.record(liveSegments.values.reduce(0, +))
        return next.id
    }
}
