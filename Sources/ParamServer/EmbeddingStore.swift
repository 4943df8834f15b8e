/// A sharded embedding table: key → row of `d` floats plus per-row optimiser state, with
/// creation on first touch, frequency admission and time-based expiry.
///
/// Keys are `hash(feature, raw value)` from the model; there is no vocabulary and no modulo
/// collision. Storage is a slab per shard (see README "Memory layout"): no per-row heap object.
/// Each batched call groups its keys by shard and takes each shard's `Mutex` once.
///
/// ```swift
/// let table = try EmbeddingStore(config: .init(dimension: 16, initializer: .uniform(bound: 0.05, seed: 7),
///                                              expiry: .timeToLive(.seconds(86_400))))
/// table.pull(keys: keys, into: rows, create: true)    // (U, 16) rows
/// table.push(keys: keys, gradients: grads)              // row optimiser step
/// ```
public final class EmbeddingStore: Sendable {
    /// The validated configuration.
    public let config: EmbeddingStoreConfig
    let clock: any ParamServerClock
    let shards: [ShardLock<EmbeddingShard>]
    let policy: RowPolicy
    let layout: EmbeddingLayout
    /// Tick 0; 2³¹ ticks before construction so ±2³¹ ticks around it are representable.
    let epoch: Timestamp
    let resolutionNanoseconds: Int64
    let ttlTicks: UInt32

    /// Creates an empty table.
    ///
    /// - Throws: ``ParamServerError/invalidConfiguration(field:reason:)``.
    public init(config: EmbeddingStoreConfig, clock: any ParamServerClock = SystemClock()) throws(ParamServerError) {
        try config.validate()
        self.config = config
        self.clock = clock
        let stateWidth = config.optimizer.stateWidth(dimension: config.dimension)
        var hasTouch = false
        resolutionNanoseconds = config.timeResolution.saturatingNanoseconds
        if case let .timeToLive(ttl) = config.expiry {
            hasTouch = true
            ttlTicks = UInt32(clamping: ttl.saturatingNanoseconds / resolutionNanoseconds)
        } else {
            ttlTicks = 0
        }
        layout = EmbeddingLayout(dimension: config.dimension, stateWidth: stateWidth, hasTouch: hasTouch)
        var threshold = 1
        if case let .afterSightings(n) = config.admission { threshold = n }
        policy = RowPolicy(dimension: config.dimension, initializer: config.initializer,
                           admissionThreshold: threshold, optimizer: config.optimizer)
        let sketchWidth: Int? = threshold > 1 ? config.admissionSketchWidth : nil
        shards = (0..<config.shardCount).map { [layout] _ in
            ShardLock(EmbeddingShard(layout: layout, sketchWidth: sketchWidth))
        }
        let offset = Int64(1 << 31).multipliedReportingOverflow(by: resolutionNanoseconds)
        epoch = Timestamp(nanosecondsSinceEpoch: saturatingAdd(clock.now().nanosecondsSinceEpoch,
                                                               offset.overflow ? .min : -offset.partialValue))
    }

    /// Row width `d`.
    public var dimension: Int { config.dimension }

    /// Rows stored (live or expired-but-not-yet-swept).
    ///
    /// - Complexity: O(shards), one lock each.
    public var rowCount: Int {
        shards.reduce(0) { $0 + $1.withLock { $0.count } }
    }

    func tick(_ t: Timestamp) -> UInt32 {
        let delta = t.nanosecondsSinceEpoch.subtractingReportingOverflow(epoch.nanosecondsSinceEpoch)
        if delta.overflow { return t > epoch ? .max : 0 }
        return UInt32(clamping: max(0, delta.partialValue / resolutionNanoseconds))
    }

    func timestamp(ofTick tick: UInt32) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: saturatingAdd(epoch.nanosecondsSinceEpoch, Int64(tick) * resolutionNanoseconds))
    }

    var ticks: TickContext {
        TickContext(now: tick(clock.now()), ttl: ttlTicks, generation: max(1, ttlTicks / 8))
    }

    /// Copies the rows of `keys` into `rows` (`keys.count × dimension`, row-major).
    ///
    /// A key without a live row reads as zeros unless `create` is true and the admission policy
    /// admits it, in which case a row is initialised (deterministically from the key) and
    /// returned. Reading a live row counts as a touch for expiry. Expired rows are never
    /// returned: with `create` they are re-initialised, otherwise they read as zeros.
    ///
    /// - Complexity: O(n · d) plus O(shards) for grouping; one lock per shard touched.
    public func pull(keys: UnsafeBufferPointer<UInt64>, into rows: UnsafeMutableBufferPointer<Float>, create: Bool) {
        let d = config.dimension
        precondition(rows.count >= keys.count * d, "rows holds \(rows.count) floats; \(keys.count) keys × dimension \(d) needed")
        guard let keyBase = keys.baseAddress, let rowBase = rows.baseAddress else { return }
        let ticks = self.ticks
        ShardRouting.withGrouping(keys: keys, shardMask: shards.count - 1) { hashes, order, starts in
            for s in 0..<shards.count where starts[s + 1] > starts[s] {
                shards[s].withLock { shard in
                    shard.pull(order: order + starts[s], n: starts[s + 1] - starts[s], keys: keyBase, hashes: hashes,
                               rows: rowBase, create: create, policy: policy, ticks: ticks)
                }
            }
        }
    }

    /// Applies `gradients` (`keys.count × dimension`) with the row optimiser. Keys must be unique
    /// within one call. Keys without a live row (never admitted, or expired) are skipped and
    /// counted in ``EmbeddingStoreStatistics/pushesDropped``.
    ///
    /// - Complexity: O(n · d); one lock per shard touched.
    public func push(keys: UnsafeBufferPointer<UInt64>, gradients: UnsafeBufferPointer<Float>) {
        let d = config.dimension
        precondition(gradients.count >= keys.count * d, "gradients holds \(gradients.count) floats; \(keys.count) keys × dimension \(d) needed")
        guard let keyBase = keys.baseAddress, let gradBase = gradients.baseAddress else { return }
        let ticks = self.ticks
        ShardRouting.withGrouping(keys: keys, shardMask: shards.count - 1) { hashes, order, starts in
            for s in 0..<shards.count where starts[s + 1] > starts[s] {
                shards[s].withLock { shard in
                    shard.push(order: order + starts[s], n: starts[s + 1] - starts[s], keys: keyBase, hashes: hashes,
                               gradients: gradBase, policy: policy, ticks: ticks)
                }
            }
        }
    }

    /// Reclaims expired rows. Called by the owner (the server's periodic task); the library
    /// runs no timers.
    ///
    /// - Complexity: O(expired rows + stale queue references), independent of live rows; one
    ///   lock per shard, held only for that shard's work.
    @discardableResult
    public func sweep() -> SweepReport {
        let ticks = self.ticks
        var report = SweepReport()
        for shard in shards { report += shard.withLock { $0.sweep(ticks: ticks) } }
        return report
    }

    /// Counters and memory use, summed over shards.
    ///
    /// - Complexity: O(shards), one lock each.
    public var statistics: EmbeddingStoreStatistics {
        var total = EmbeddingStoreStatistics()
        for shard in shards {
            shard.withLock { s in
                total.rows += s.count
                total.rowsCreated += s.statistics.rowsCreated
                total.expiredReads += s.statistics.expiredReads
                total.rowsReclaimed += s.statistics.rowsReclaimed
                total.admissionsDeferred += s.statistics.admissionsDeferred
                total.pushesDropped += s.statistics.pushesDropped
                let b = s.overheadAndRowBytes
                total.rowBytes += b.rows
                total.optimizerStateBytes += b.state
                total.overheadBytes += b.other
            }
        }
        return total
    }
}

/// Counters and memory figures of an ``EmbeddingStore`` (for `/metrics` and benchmarks).
public struct EmbeddingStoreStatistics: Sendable, Equatable {
    /// Rows stored.
    public var rows = 0
    public var rowsCreated = 0
    /// Reads that found an expired row (served as zeros or re-initialised).
    public var expiredReads = 0
    /// Rows removed by sweeps.
    public var rowsReclaimed = 0
    /// `create` pulls of keys not yet admitted.
    public var admissionsDeferred = 0
    /// Gradients skipped because the key had no live row.
    public var pushesDropped = 0
    /// `rows × d × 4`: the raw floats.
    public var rowBytes = 0
    /// Optimiser state (reported apart from the overhead).
    public var optimizerStateBytes = 0
    /// Everything else: keys, touch times, index, expiry queue, admission sketch, slab slack.
    public var overheadBytes = 0

    public init() {}

    /// `overheadBytes / rowBytes`.
    public var overheadRatio: Double { rowBytes == 0 ? 0 : Double(overheadBytes) / Double(rowBytes) }
}
