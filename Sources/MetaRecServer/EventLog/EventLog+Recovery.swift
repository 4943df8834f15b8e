#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging

/// What ``EventLog/open(after:)`` replayed.
public struct EventLogReplay: Sendable, Equatable {
    /// Segments read (those the snapshot did not cover).
    public var segments = 0
    /// Records (acknowledged events requests) and support rows appended to the store.
    public var records = 0
    public var rows = 0
    /// Segments with a torn tail or a corrupt record, cut.
    public var damaged = 0
    /// The segment new events go to.
    public var segment: UInt64 = 0
}

extension EventLog {
    /// Replays the log after a snapshot and opens a new segment for appending.
    ///
    /// The truncation protocol (``checkpoint(_:)``) keeps this invariant: the snapshot restored
    /// before this call holds every record of the segments with ids below `position` (the value
    /// it recorded, ``SupportStore/restore(from:)``) and none of the later ones. So: segments
    /// below `position` are deleted, the others are replayed in id order into the store, each
    /// record with its own write time and version (``EventLogRecord/apply(to:)``), and new events
    /// go to a fresh segment after all of them (an old segment is never appended to again).
    ///
    /// Damage is reported and cut, never fatal: a torn tail (an incomplete last record) is
    /// truncated away with a warning; a record failing its checksum with bytes after it is
    /// reported as an error with its offset, the bytes from it on are saved beside the segment as
    /// `<segment>.damaged-at-<offset>` and cut (the rest of that segment cannot be framed).
    ///
    /// - Parameter position: the snapshot's journal position (0: no snapshot, replay everything).
    /// - Throws: ``EventLogError`` when a file cannot be read or written, or a segment's header is
    ///   not this log's (another model's rows: W or L differ).
    @discardableResult
    public func open(after position: UInt64) throws(EventLogError) -> EventLogReplay {
        lock.lock()
        let isOpen = segment != nil || stopping
        lock.unlock()
        guard !isOpen else { throw EventLogError(path: directory, reason: "the event log is already open (or closed): open it once") }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EventLogError(path: directory, reason: "cannot create the state directory: \(error.localizedDescription)")
        }
        var replay = EventLogReplay()
        var lastSequence: UInt64 = 0
        lock.lock()
        replayStarted = true
        lock.unlock()
        let ids = try segmentIDs()
        for id in ids {
            let path = segmentPath(id)
            if id < position {
                if unlink(path) != 0 { throw .system(path, "unlink") }
                logger.info("event log segment covered by the snapshot removed", metadata: ["path": "\(path)"])
                continue
            }
            let (valid, damage) = try EventLogScanner.scan(path: path, segment: id, rowWidth: rowWidth, labelWidth: labelWidth) { record, _ in
                record.apply(to: store)
                lastSequence = record.sequence
                replay.records += 1
                replay.rows += record.tasks.count
            }
            if let damage {
                try cut(path, at: valid, damage)  // fsyncs the cut segment
                replay.damaged += 1
            } else {
                try truncateFile(path, to: valid)  // the replayed bytes may be only in the page cache: fsync them
            }
            replay.segments += 1
            lock.lock()
            liveSegments[id] = valid
            lock.unlock()
        }
        let next = max(ids.last ?? 0, position > 0 ? position - 1 : 0) + 1
        let file = try EventLogSegmentFile(creating: next, in: directory, rowWidth: rowWidth, labelWidth: labelWidth)
        lock.lock()
        segment = file
        liveSegments[next] = file.length
        written = lastSequence
        durable = lastSequence
        metrics.bytes.record(liveSegments.values.reduce(0, +))
        startSyncer()
        lock.unlock()
        replay.segment = next
        metrics.replayedRecords.record(replay.records)
        metrics.replayedRows.record(replay.rows)
        logger.info("event log replayed", metadata: [
            "directory": "\(directory)", "segments": "\(replay.segments)", "records": "\(replay.records)",
            "rows": "\(replay.rows)", "damaged_segments": "\(replay.damaged)", "segment": "\(next)", "fsync": "\(policy.rawValue)",
        ])
        return replay
    }

    /// The ids of the segment files in the directory, ascending.
    func segmentIDs() throws(EventLogError) -> [UInt64] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).compactMap(EventLogFormat.segment(ofFileName:)).sorted()
        } catch {
            throw EventLogError(path: directory, reason: "cannot list the state directory: \(error.localizedDescription)")
        }
    }

    func segmentPath(_ id: UInt64) -> String {
        directory + "/" + EventLogFormat.fileName(segment: id)
    }

    /// Truncates the segment at `path` to `valid` bytes after reporting `damage` (and saving the
    /// bytes of a corrupt middle beside it).
    func cut(_ path: String, at valid: Int, _ damage: EventLogDamage) throws(EventLogError) {
        metrics.damaged.increment()
        switch damage {
        case .tornTail(let offset, let reason):
            logger.warning("event log: torn tail cut", metadata: [
                "path": "\(path)", "offset": "\(offset)", "reason": "\(reason)",
            ])
        case .corrupt(let offset, let reason, let after):
            let aside = path + ".damaged-at-\(offset)"
            if let bytes = FileManager.default.contents(atPath: path), bytes.count > offset {
                _ = FileManager.default.createFile(atPath: aside, contents: bytes.subdata(in: offset..<bytes.count))
            }
            logger.error("event log: corrupt record, the rest of the segment cut", metadata: [
                "path": "\(path)", "offset": "\(offset)", "reason": "\(reason)", "bytes_after": "\(after)", "saved_as": "\(aside)",
            ])
        }
        try truncateFile(path, to: valid)
    }
}
