import Foundation
import InMemoryLogging
import Logging
@testable import MetaRecServer
import ParamServer
import Prometheus
import Serving
import Testing

/// The event log's record format and its recovery (`EventLogFormat`, `EventLogScanner`,
/// `EventLog`): round trip, a torn tail cut at every byte of the last record, every flipped bit
/// of a record detected, and replay after a snapshot that truncated the log giving the same store
/// (byte for byte, compared through the store's own snapshot) as the appends themselves.
@Suite struct EventLogTests {
    static let (w, l) = (3, 2)

    /// A small store on `clock` (3 features, 2 labels a row, 4 rows a task).
    static func store(_ clock: ManualClock, precision: SupportPrecision = .float32) throws -> SupportStore {
        try SupportStore(config: SupportStoreConfig(rowWidth: w, labelWidth: l, capacity: 4, modelVersion: 7, precision: precision), clock: clock)
    }

    /// `n` rows for users `user, user + 1, …` with values derived from `seed`.
    struct Batch {
        var tasks: [UInt64], features: [Float], labels: [Float], times: [Timestamp]

        init(n: Int, user: UInt64, seed: Int) {
            tasks = (0..<UInt64(n)).map { user + $0 % 3 }
            features = (0..<(n * EventLogTests.w)).map { Float(seed * 100 + $0) * 0.25 - 3 }
            labels = (0..<(n * EventLogTests.l)).map { Float(($0 + seed) % 2) }
            times = (0..<n).map { .seconds(1_700_000_000 + Int64(seed * 10 + $0)) }
        }

        func withRows<R>(_ body: (SupportRows) throws -> R) rethrows -> R {
            try tasks.withUnsafeBufferPointer { t in
                try features.withUnsafeBufferPointer { f in
                    try labels.withUnsafeBufferPointer { lb in
                        try times.withUnsafeBufferPointer { s in try body(SupportRows(tasks: t, features: f, labels: lb, timestamps: s)) }
                    }
                }
            }
        }

        func record(sequence: UInt64, writeTime: Timestamp, version: UInt64) -> EventLogRecord {
            EventLogRecord(sequence: sequence, writeTime: writeTime, version: version, tasks: tasks, timestamps: times,
                           features: features, labels: labels)
        }
    }

    static func log(_ directory: URL, _ store: SupportStore, _ logger: Logger = Logger(label: "test")) -> EventLog {
        EventLog(directory: directory.path, policy: .off, store: store, logger: logger,
                 metrics: EventLogMetrics(factory: ScoringServer.metricsFactory(PrometheusCollectorRegistry())))
    }

    /// The store's contents as the bytes of its snapshot.
    static func contents(_ store: SupportStore, _ directory: URL) throws -> Data {
        let path = directory.appendingPathComponent("compare-\(UUID().uuidString).snapshot").path
        try store.snapshot(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// A segment file with a header and `batches` as records 1, 2, …; returns each record's offset and the file.
    static func segmentFile(_ directory: URL, _ batches: [Batch]) throws -> (path: String, offsets: [Int], bytes: [UInt8]) {
        var bytes = EventLogFormat.header(segment: 1, rowWidth: w, labelWidth: l)
        var offsets: [Int] = []
        var record: [UInt8] = []
        for (i, b) in batches.enumerated() {
            b.withRows { EventLogFormat.encodeRecord(sequence: UInt64(i + 1), writeTime: .seconds(1_800_000_000 + Int64(i)), version: 7,
                                                     rows: $0, rowWidth: w, labelWidth: l, into: &record) }
            offsets.append(bytes.count)
            bytes += record
        }
        let path = directory.appendingPathComponent(EventLogFormat.fileName(segment: 1)).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, offsets, bytes)
    }

    static func scan(_ path: String) throws -> (records: [EventLogRecord], valid: Int, damage: EventLogDamage?) {
        var records: [EventLogRecord] = []
        let (valid, damage) = try EventLogScanner.scan(path: path, segment: 1, rowWidth: w, labelWidth: l) { r, _ in records.append(r) }
        return (records, valid, damage)
    }

    @Test(arguments: [1, 2, 5])
    func `records round trip bit for bit`(rows: Int) throws {
        let dir = try temporaryDirectory("metarec-eventlog-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let batches = [Batch(n: rows, user: 10, seed: 1), Batch(n: 1, user: 99, seed: 2), Batch(n: rows, user: 5, seed: 3)]
        let file = try Self.segmentFile(dir, batches)
        let read = try Self.scan(file.path)
        #expect(read.damage == nil && read.valid == file.bytes.count)
        #expect(read.records == batches.enumerated().map { i, b in
            b.record(sequence: UInt64(i + 1), writeTime: .seconds(1_800_000_000 + Int64(i)), version: 7)
        })
        #expect(EventLogFormat.segment(ofFileName: EventLogFormat.fileName(segment: 42)) == 42)
    }

    @Test func `a torn tail at every byte offset of the last record is cut, reported and never fatal`() throws {
        let dir = try temporaryDirectory("metarec-eventlog-torn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let batches = [Batch(n: 2, user: 1, seed: 1), Batch(n: 1, user: 2, seed: 2), Batch(n: 2, user: 3, seed: 3)]
        let file = try Self.segmentFile(dir, batches)
        let last = file.offsets[2]
        // The store the first two records make, for comparison.
        let clock = ManualClock(start: .seconds(1_900_000_000))
        let expected = try Self.store(clock)
        for (i, b) in batches.prefix(2).enumerated() {
            b.withRows { expected.append($0, writeTime: .seconds(1_800_000_000 + Int64(i)), version: 7) }
        }
        let expectedBytes = try Self.contents(expected, dir)
        for cut in last..<file.bytes.count {
            let state = dir.appendingPathComponent("cut-\(cut)")
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            let path = state.appendingPathComponent(EventLogFormat.fileName(segment: 1)).path
            try Data(file.bytes[0..<cut]).write(to: URL(fileURLWithPath: path))
            let (logger, records) = InMemoryLogHandler.makeLogger(label: "test")
            let store = try Self.store(clock)
            let log = Self.log(state, store, logger)
            let replay = try log.open(after: 0)
            #expect(replay.records == 2 && replay.damaged == (cut > last ? 1 : 0), "cut at \(cut)")
            #expect(try Self.contents(store, dir) == expectedBytes, "cut at \(cut)")
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == last, "the file is cut at the last whole record")
            if cut > last {
                #expect(records.entries.contains { $0.message.description.contains("torn tail cut") && $0.metadata["offset"] == "\(last)" })
            }
            #expect(replay.segment == 2)
            log.close()
        }
    }

    @Test func `every flipped bit of a record is detected and the record is not applied`() throws {
        let dir = try temporaryDirectory("metarec-eventlog-flip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let batches = [Batch(n: 2, user: 1, seed: 1), Batch(n: 2, user: 2, seed: 2), Batch(n: 1, user: 3, seed: 3)]
        let file = try Self.segmentFile(dir, batches)
        for (index, start) in file.offsets.enumerated() {
            let end = index + 1 < file.offsets.count ? file.offsets[index + 1] : file.bytes.count
            for bit in (start * 8)..<(end * 8) {
                var bytes = file.bytes
                bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
                try Data(bytes).write(to: URL(fileURLWithPath: file.path))
                let read = try Self.scan(file.path)
                #expect(read.records.count == index && read.valid == start, "record \(index), bit \(bit - start * 8)")
                #expect(read.damage?.offset == start, "record \(index), bit \(bit - start * 8)")
                if index < 2, bit / 8 >= start + 4, case .corrupt(_, _, let after)? = read.damage {
                    #expect(after == file.bytes.count - end)  // a corrupt middle reports what follows it
                }
            }
        }
    }

    @Test func `a corrupt record in the middle is reported with its offset and the bytes after it are saved`() throws {
        let dir = try temporaryDirectory("metarec-eventlog-middle")
        defer { try? FileManager.default.removeItem(at: dir) }
        let batches = [Batch(n: 1, user: 1, seed: 1), Batch(n: 1, user: 2, seed: 2), Batch(n: 1, user: 3, seed: 3)]
        var file = try Self.segmentFile(dir, batches)
        file.bytes[file.offsets[1] + 20] ^= 0x10
        try Data(file.bytes).write(to: URL(fileURLWithPath: file.path))
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "test")
        let log = Self.log(dir, try Self.store(ManualClock()), logger)
        let replay = try log.open(after: 0)
        defer { log.close() }
        #expect(replay.records == 1 && replay.damaged == 1)
        let error = try #require(records.entries.first { $0.level == .error })
        #expect(error.message.description.contains("corrupt record") && error.metadata["offset"] == "\(file.offsets[1])")
        let saved = try Data(contentsOf: URL(fileURLWithPath: file.path + ".damaged-at-\(file.offsets[1])"))
        #expect(Array(saved) == Array(file.bytes[file.offsets[1]...]))
    }
}

extension EventLogTests {
    /// Appends `batches` through `log`, advancing the clock a second before each.
    static func append(_ batches: [Batch], to log: EventLog, clock: ManualClock) throws {
        for b in batches {
            clock.advance(by: .seconds(1))
            _ = try b.withRows { rows throws(ServingError) in try log.append(rows) }
        }
    }

    /// The same appends straight into a store (the reference).
    static func reference(_ batches: [Batch], start: Timestamp, precision: SupportPrecision = .float32) throws -> SupportStore {
        let clock = ManualClock(start: start)
        let store = try Self.store(clock, precision: precision)
        for b in batches {
            clock.advance(by: .seconds(1))
            b.withRows { store.append(tasks: $0.tasks, features: $0.features, labels: $0.labels, timestamps: $0.timestamps) }
        }
        return store
    }

    /// At bf16 the log keeps the appended float32 rows and replay rounds them as the append did.
    @Test(arguments: SupportPrecision.allCases)
    func `replay after a snapshot that truncated the log gives the same store as the appends`(precision: SupportPrecision) throws {
        let dir = try temporaryDirectory("metarec-eventlog-replay")
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = Timestamp.seconds(1_900_000_000)
        let batches = (0..<12).map { Batch(n: 1 + $0 % 3, user: UInt64($0 % 5), seed: $0) }
        let snapshot = dir.appendingPathComponent("support.snapshot").path
        let clock = ManualClock(start: start)
        let live = try Self.store(clock, precision: precision)
        let log = Self.log(dir, live)
        try log.open(after: 0)
        try Self.append(Array(batches[0..<5]), to: log, clock: clock)
        let position = try log.checkpoint { try live.snapshot(to: snapshot, journalPosition: $0) }
        let remaining = try log.segmentIDs()
        #expect(position == 2 && remaining == [2], "the covered segment is deleted")
        try Self.append(Array(batches[5...]), to: log, clock: clock)
        let expected = try Self.contents(try Self.reference(batches, start: start, precision: precision), dir)
        #expect(try Self.contents(live, dir) == expected)
        // A restart (no close: as after SIGKILL): snapshot, then the segment after it.
        let restarted = try Self.store(ManualClock(start: .seconds(2_000_000_000)), precision: precision)
        let recorded = try restarted.restore(from: snapshot)
        let replay = try Self.log(dir, restarted).open(after: recorded)
        #expect(recorded == 2 && replay.records == 7 && replay.segment == 3)
        #expect(try Self.contents(restarted, dir) == expected)
        // Without the snapshot, the whole log from the start gives the same store.
        let whole = dir.appendingPathComponent("whole")
        let wholeClock = ManualClock(start: start)
        let unsnapshotted = try Self.store(wholeClock, precision: precision)
        let wholeLog = Self.log(whole, unsnapshotted)
        try wholeLog.open(after: 0)
        try Self.append(batches, to: wholeLog, clock: wholeClock)
        let fromLog = try Self.store(ManualClock(), precision: precision)
        try Self.log(whole, fromLog).open(after: 0)
        #expect(try Self.contents(fromLog, dir) == expected)
    }

    @Test func `a crash between the new segment and the snapshot, or before the old segments are deleted, loses and doubles nothing`() throws {
        let dir = try temporaryDirectory("metarec-eventlog-crash-window")
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = Timestamp.seconds(1_900_000_000)
        let batches = (0..<6).map { Batch(n: 2, user: UInt64($0), seed: $0) }
        let expected = try Self.contents(try Self.reference(batches, start: start), dir)
        let clock = ManualClock(start: start)
        let live = try Self.store(clock)
        let log = Self.log(dir, live)
        try log.open(after: 0)
        try Self.append(Array(batches[0..<3]), to: log, clock: clock)
        struct Crash: Error {}
        // Killed after segment 2 exists, before the snapshot is renamed into place.
        #expect(throws: Crash.self) { try log.checkpoint { _ in throw Crash() } }
        try Self.append(Array(batches[3...]), to: log, clock: clock)
        let first = try Self.store(ManualClock())
        #expect(try Self.log(dir, first).open(after: 0).records == 6)
        #expect(try Self.contents(first, dir) == expected)
        // Killed after the snapshot, before segment ≤ n is deleted: put a covered segment back.
        let snapshot = dir.appendingPathComponent("support.snapshot").path
        let covered = try Data(contentsOf: URL(fileURLWithPath: dir.appendingPathComponent(EventLogFormat.fileName(segment: 2)).path))
        let position = try log.checkpoint { try live.snapshot(to: snapshot, journalPosition: $0) }
        try covered.write(to: dir.appendingPathComponent(EventLogFormat.fileName(segment: 2)))
        let second = try Self.store(ManualClock())
        let recorded = try second.restore(from: snapshot)
        #expect(recorded == position)
        #expect(try Self.log(dir, second).open(after: recorded).records == 0)
        #expect(try Self.contents(second, dir) == expected)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(EventLogFormat.fileName(segment: 2)).path))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "needs /dev/full (Linux)"))
    func `a failed write is a 503 naming the cause, appends nothing, and a snapshot makes the log usable again`() throws {
        let dir = try temporaryDirectory("metarec-eventlog-full")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.store(ManualClock(start: .seconds(1_900_000_000)))
        let log = Self.log(dir, store)
        try log.open(after: 0)
        defer { log.close() }
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(full >= 0)
        log.lock.lock()
        log.segment = EventLogSegmentFile(id: 1, path: "/dev/full", fd: full, length: 0)
        log.lock.unlock()
        let batch = Batch(n: 2, user: 1, seed: 1)
        for _ in 0..<2 {
            let error = #expect(throws: ServingError.self) {
                _ = try batch.withRows { rows throws(ServingError) in try log.append(rows) }
            }
            #expect(error?.httpStatus == 503 && error?.code == "event_log_unavailable")
            #expect(error?.description.contains("/dev/full") == true && error?.description.contains("No space left on device") == true,
                    "\(String(describing: error))")
        }
        #expect(store.count == 0, "nothing appended without its record")
        let snapshot = dir.appendingPathComponent("support.snapshot").path
        try log.checkpoint { try store.snapshot(to: snapshot, journalPosition: $0) }
        _ = try batch.withRows { rows throws(ServingError) in try log.append(rows) }
        #expect(store.count == 2)
    }

    @Test func `under every_second the background thread fsyncs what was written, and close() stops it`() async throws {
        let dir = try temporaryDirectory("metarec-eventlog-every-second")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.store(ManualClock(start: .seconds(1_900_000_000)))
        let log = EventLog(directory: dir.path, policy: .everySecond, store: store, logger: Logger(label: "test"),
                           metrics: EventLogMetrics(factory: ScoringServer.metricsFactory(PrometheusCollectorRegistry())))
        try log.open(after: 0)
        let ticket = try Batch(n: 1, user: 1, seed: 1).withRows { rows throws(ServingError) in try log.append(rows) }
        try await log.waitUntilDurable(ticket)  // returns at once: every_second acknowledges after the write
        // Wait (with a generous bound, not a timing assertion) for the flusher's fsync.
        var synced = false
        for _ in 0..<300 where !synced {
            try await Task.sleep(for: .milliseconds(100))
            synced = log.lock.withLock { log.durable >= ticket }
        }
        #expect(synced, "the every_second flusher fsynced the record")
        log.close()
        #expect(!log.lock.withLock { log.syncerRunning })
    }
}
