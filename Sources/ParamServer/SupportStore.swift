import Synchronization

/// The support store (`docs/DESIGN.md` §Parameter server): task key → ring buffer of that task's
/// most recent meta-layer inputs `f_1 … f_K` (`W = K·H` floats), labels (`L = K`), event timestamp
/// and model version, capacity `S_max` rows.
///
/// Serving pulls a task's rows as contiguous `(S, W)` and `(S, L)` matrices for `adapt`; the
/// feedback path and the end of training append. Invariants (README): a row written longer
/// ago than the time to live is never served unless it is among the task's newest `keepFloor`;
/// a row written under another model version is never served; a pull returns the newest
/// servable suffix oldest-first; the memory bound evicts least-recently-used tasks.
///
/// A task's rows live in one block of its size class (1, 2, 4, … `S_max` rows, growing as rows
/// arrive), so a task costs about what it holds: ``taskBytes(rows:)``.
///
/// Sharded by task-key hash, one `Mutex` per shard; no global lock (the memory bound is kept
/// with atomics and may be exceeded by one task, or one task's growth, per concurrent appender).
public final class SupportStore: Sendable {
    /// The validated configuration (its `modelVersion` is the initial version).
    public let config: SupportStoreConfig
    package let clock: any ParamServerClock  // package: the server checks event times against it
    let layout: SupportLayout
    let shards: [ShardLock<SupportShard>]
    let policy: SupportPolicy
    let currentVersion: Atomic<UInt64>
    let rowsInUse = Atomic<Int>(0)
    let tasksInUse = Atomic<Int>(0)
    /// Bytes charged to stored tasks (the sum of ``taskBytes(rows:)``), for the byte bound.
    let bytesInUse = Atomic<Int>(0)
    let evictions = Atomic<Int>(0)

    /// Creates an empty store.
    ///
    /// - Throws: ``ParamServerError/invalidConfiguration(field:reason:)``.
    public init(config: SupportStoreConfig, clock: any ParamServerClock = SystemClock()) throws(ParamServerError) {
        try config.validate()
        self.config = config
        self.clock = clock
        layout = SupportLayout(rowWidth: config.rowWidth, labelWidth: config.labelWidth, capacity: config.capacity,
                               precision: config.precision, bitPatternColumns: config.bitPatternColumns)
        var ttl: Int64 = 0
        if case let .timeToLive(d) = config.expiry { ttl = max(1, d.saturatingNanoseconds) }
        policy = SupportPolicy(ttl: ttl, keepFloor: config.keepFloor, generation: max(1, ttl / 8))
        currentVersion = Atomic(config.modelVersion)
        shards = (0..<config.shardCount).map { [layout, config] _ in
            ShardLock(SupportShard(layout: layout, version: config.modelVersion))
        }
    }

    /// Bytes of a full task block: `S_max · (featureRowBytes + 4L + 24)` (each column group padded
    /// to 8, the block to 16), where `featureRowBytes` = `4W` at float32, `2(W − X) + 4X` at bfloat16.
    public var blockBytes: Int { layout.blockBytes }

    /// Bytes a task holding `rows` rows is charged (the measure of ``MemoryBound/bytes(_:)``):
    /// its block of the smallest size class holding `rows` (1, 2, 4, … `S_max` rows) as the
    /// allocator hands it out (glibc: 8-byte header, 16-byte granules), plus its entry (48 bytes:
    /// key, block pointer, last use, ring head and count, LRU links, size class) and 5 bytes of
    /// index. A one-row task with W = 128, L = 2 costs 613 bytes (357 at bfloat16, X = 0); a full 64-row
    /// one 34 885 (18 501 at bfloat16).
    ///
    /// - Parameter rows: in 1...S_max.
    public func taskBytes(rows: Int) -> Int {
        precondition(rows >= 1 && rows <= layout.capacity, "rows \(rows) is not in 1...S_max (\(layout.capacity))")
        return layout.taskBytes(sizeClass: layout.sizeClass(rows: rows))
    }

    /// The version written with new rows; rows of other versions read as expired.
    public var modelVersion: UInt64 { currentVersion.load(ordering: .acquiring) }

    /// Switches the model version: from now on rows written under any other version are not
    /// served, and the next ``sweep()`` reclaims them.
    ///
    /// - Complexity: O(1); the reclaim cost is paid by the next sweep.
    public func setModelVersion(_ version: UInt64) {
        currentVersion.store(version, ordering: .releasing)
    }

    /// Tasks stored.
    public var count: Int { tasksInUse.load(ordering: .relaxed) }

    /// Appends one row to `task`'s ring (overwriting its oldest row when it holds `S_max`).
    ///
    /// - Parameters:
    ///   - features: `W` floats, `f_1 … f_K` concatenated.
    ///   - labels: `L` floats.
    ///   - timestamp: the event's time, returned by ``pull(task:features:labels:timestamps:)``;
    ///     expiry uses the clock's time of the append instead, so history loaded at the end of
    ///     training is not born expired.
    /// - Complexity: O(W + L); one shard lock; plus O(shards) per task evicted by the bound.
    public func append(task: UInt64, features: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>, timestamp: Timestamp) {
        precondition(features.count == layout.rowWidth, "features has \(features.count) floats; rowWidth is \(layout.rowWidth)")
        precondition(labels.count == layout.labelWidth, "labels has \(labels.count) floats; labelWidth is \(layout.labelWidth)")
        guard let f = features.baseAddress else { return }
        let hash = mixKey(task)
        let now = clock.now().nanosecondsSinceEpoch, version = modelVersion
        let added = shards[shardOf(hash: hash, mask: shards.count - 1)].withLock { s in
            let before = s.taskBytes
            let d = s.append(key: task, hash: hash, features: f, labels: labels.baseAddress, eventTime: timestamp.nanosecondsSinceEpoch,
                             now: now, version: version, policy: policy)
            return SupportDelta(rows: d.rows, tasks: d.tasks, bytes: s.taskBytes - before)
        }
        account(added)
        enforceMemoryBound()
    }

    /// Appends `tasks.count` rows: row `i` (`features[i·W ..< (i+1)·W]`, `labels[i·L ..< (i+1)·L]`)
    /// goes to `tasks[i]`, in order. One lock per shard touched.
    ///
    /// - Complexity: O(n · (W + L) + shards).
    public func append(
        tasks: UnsafeBufferPointer<UInt64>, features: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>,
        timestamps: UnsafeBufferPointer<Timestamp>
    ) {
        append(SupportRows(tasks: tasks, features: features, labels: labels, timestamps: timestamps),
               writeTime: clock.now(), version: modelVersion)
    }

    /// The clock's time now: the write time ``append(tasks:features:labels:timestamps:)`` gives rows.
    package var now: Timestamp { clock.now() }

    /// Appends `rows` as written at `writeTime` under `version` instead of the clock's time and the
    /// current version: a write-ahead log records both with the rows and replays them through
    /// here, so the replayed store holds exactly what the logged appends made (`docs/DESIGN.md`
    /// §Serving, the event log).
    ///
    /// - Complexity: O(n · (W + L) + shards).
    package func append(_ rows: SupportRows, writeTime: Timestamp, version: UInt64) {
        let (tasks, features, labels, timestamps) = (rows.tasks, rows.features, rows.labels, rows.timestamps)
        let n = tasks.count, w = layout.rowWidth, l = layout.labelWidth
        precondition(features.count == n * w, "features has \(features.count) floats; \(n) rows × rowWidth \(w) needed")
        precondition(labels.count == n * l, "labels has \(labels.count) floats; \(n) rows × labelWidth \(l) needed")
        precondition(timestamps.count == n, "timestamps has \(timestamps.count) entries; \(n) needed")
        guard n > 0, let keyBase = tasks.baseAddress, let f = features.baseAddress, let t = timestamps.baseAddress else { return }
        let labelBase = labels.baseAddress
        let now = writeTime.nanosecondsSinceEpoch
        var added = SupportDelta()
        ShardRouting.forEachChunk(keys: tasks, shardMask: shards.count - 1) { offset, g in
            for s in 0..<shards.count where g.starts[s + 1] > g.starts[s] {
                added += shards[s].withLock { shard in
                    let before = shard.taskBytes
                    var delta = SupportDelta()
                    for i in g.starts[s]..<g.starts[s + 1] {
                        let q = Int(g.order[i]), p = offset + q
                        let d = shard.append(key: keyBase[p], hash: g.hashes[q], features: f + p * w,
                                             labels: labelBase.map { $0 + p * l }, eventTime: t[p].nanosecondsSinceEpoch,
                                             now: now, version: version, policy: policy)
                        delta.rows += d.rows
                        delta.tasks += d.tasks
                    }
                    delta.bytes = shard.taskBytes - before
                    return delta
                }
            }
        }
        account(added)
        enforceMemoryBound()
    }

    /// Copies `task`'s servable rows, oldest first, as `(S, W)` into `features` and `(S, L)` into
    /// `labels` (and their event times into `timestamps` when given); returns S (0 for an
    /// unknown task). Counts as a use for the LRU bound. Allocates nothing.
    ///
    /// - Parameters:
    ///   - features: room for `S_max · W` floats.
    ///   - labels: room for `S_max · L` floats.
    /// - Complexity: O(S · (W + L)): at most two `memcpy`s per matrix, under one shard lock.
    public func pull(
        task: UInt64, features: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Float>,
        timestamps: UnsafeMutableBufferPointer<Timestamp>? = nil
    ) -> Int {
        let s = layout.capacity
        precondition(features.count >= s * layout.rowWidth, "features holds \(features.count) floats; S_max × W = \(s * layout.rowWidth) needed")
        precondition(labels.count >= s * layout.labelWidth, "labels holds \(labels.count) floats; S_max × L = \(s * layout.labelWidth) needed")
        precondition(timestamps.map { $0.count >= s } ?? true, "timestamps must hold S_max = \(s) entries")
        guard let out = features.baseAddress else { return 0 }
        let hash = mixKey(task)
        let now = clock.now().nanosecondsSinceEpoch, version = modelVersion
        let labelOut = labels.baseAddress, timeOut = timestamps?.baseAddress
        return shards[shardOf(hash: hash, mask: shards.count - 1)].withLock { shard in
            shard.pull(key: task, hash: hash, features: out, labels: labelOut, timestamps: timeOut,
                       now: now, version: version, policy: policy)
        }
    }

    /// Reclaims expired rows and tasks, then enforces the memory bound. Called by the owner
    /// (the server's periodic task); the library runs no timers.
    ///
    /// - Complexity: O(expired references × S_max), independent of live tasks; after a
    ///   ``setModelVersion(_:)`` the first sweep also makes one pass over all tasks.
    @discardableResult
    public func sweep() -> SweepReport {
        let now = clock.now().nanosecondsSinceEpoch, version = modelVersion
        var report = SweepReport()
        for shard in shards {
            let (r, bytes) = shard.withLock { s in
                let before = s.taskBytes
                let r = s.sweep(now: now, version: version, policy: policy)
                return (r, before - s.taskBytes)
            }
            rowsInUse.subtract(r.rowsReclaimed, ordering: .relaxed)
            tasksInUse.subtract(r.entriesReclaimed, ordering: .relaxed)
            bytesInUse.subtract(bytes, ordering: .relaxed)
            report += r
        }
        report.entriesEvicted = enforceMemoryBound()
        return report
    }

    func account(_ added: SupportDelta) {
        if added.rows != 0 { rowsInUse.add(added.rows, ordering: .relaxed) }
        if added.tasks != 0 { tasksInUse.add(added.tasks, ordering: .relaxed) }
        if added.bytes != 0 { bytesInUse.add(added.bytes, ordering: .relaxed) }
    }

    /// Counters and memory use (tasks, rows, bytes, evictions), summed over shards.
    ///
    /// - Complexity: O(shards), one lock each.
    public var statistics: SupportStoreStatistics {
        var total = SupportStoreStatistics()
        for shard in shards {
            shard.withLock { s in
                total.tasks += s.liveEntries
                total.rows += s.storedRows
                total.bytes += s.bytes
                total.taskBytes += s.taskBytes
                total.rowsAppended += s.statistics.rowsAppended
                total.pulls += s.statistics.pulls
                total.tasksExpired += s.statistics.tasksExpired
                total.rowsExpired += s.statistics.rowsExpired
            }
        }
        total.tasksEvicted = evictions.load(ordering: .relaxed)
        return total
    }
}

/// Counters of a ``SupportStore`` (for `/metrics` and benchmarks).
public struct SupportStoreStatistics: Sendable, Equatable {
    /// Tasks stored.
    public var tasks = 0
    /// Rows stored, including rows that are expired but not yet swept.
    public var rows = 0
    /// Heap bytes held: task blocks (as allocated), entry tables, free lists, index, expiry
    /// queue. At least ``taskBytes`` minus the index estimate; more by the tables' spare capacity.
    public var bytes = 0
    /// Bytes charged to the stored tasks, the sum of ``SupportStore/taskBytes(rows:)`` (the
    /// measure of ``MemoryBound/maxBytes``).
    public var taskBytes = 0
    public var rowsAppended = 0
    public var pulls = 0
    /// Tasks and rows reclaimed by sweeps (time to live or model version).
    public var tasksExpired = 0
    public var rowsExpired = 0
    /// Tasks evicted by the memory bound.
    public var tasksEvicted = 0

    public init() {}

    /// Mean bytes charged per stored task (per user), 0 when empty.
    public var bytesPerTask: Double { tasks > 0 ? Double(taskBytes) / Double(tasks) : 0 }
}

/// Rows for ``SupportStore/append(tasks:features:labels:timestamps:)`` as one value: row `i` is
/// `tasks[i]`, `features[i·W ..< (i+1)·W]`, `labels[i·L ..< (i+1)·L]`, `timestamps[i]`. The
/// buffers are borrowed: valid only for the call they are passed to.
public struct SupportRows {
    public var tasks: UnsafeBufferPointer<UInt64>
    public var features: UnsafeBufferPointer<Float>
    public var labels: UnsafeBufferPointer<Float>
    public var timestamps: UnsafeBufferPointer<Timestamp>

    public init(tasks: UnsafeBufferPointer<UInt64>, features: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>,
                timestamps: UnsafeBufferPointer<Timestamp>) {
        self.tasks = tasks
        self.features = features
        self.labels = labels
        self.timestamps = timestamps
    }

    /// Rows held.
    public var count: Int { tasks.count }
}

/// Changes to the store's global counters from one locked shard operation.
struct SupportDelta: Sendable {
    var rows = 0, tasks = 0, bytes = 0

    static func += (a: inout SupportDelta, b: SupportDelta) {
        a.rows += b.rows
        a.tasks += b.tasks
        a.bytes += b.bytes
    }
}
