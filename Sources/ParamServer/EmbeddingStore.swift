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
    /// Tick 0; 2³¹ ticks (at most 2⁶² ns) before construction, so times around it are representable.
    let epoch: Timestamp
    let resolutionNanoseconds: Int64
    let ttlTicks: UInt32
    /// Largest time to live in ticks (see `init`): 2¹⁴.
    static let maximumTTLTicks: Int64 = 1 << 14

    /// Creates an empty table.
    ///
    /// - Throws: ``ParamServerError/invalidConfiguration(field:reason:)``.
    public init(config: EmbeddingStoreConfig, clock: any ParamServerClock = SystemClock()) throws(ParamServerError) {
        try config.validate()
        self.config = config
        self.clock = clock
        let stateWidth = config.optimizer.stateWidth(dimension: config.dimension)
        var hasTouch = false
        let resolution = config.timeResolution.saturatingNanoseconds
        if case let .timeToLive(ttl) = config.expiry {
            hasTouch = true
            // Touches are 16-bit offsets from a page base, which needs ttl ≤ 2¹⁴ ticks (a page
            // then lasts ≥ 3 TTL before a rebase): coarsen the tick to ⌈ttl / 2¹⁴⌉ resolutions.
            let ttlNanoseconds = ttl.saturatingNanoseconds
            let factor = max(1, (ttlNanoseconds / resolution + Self.maximumTTLTicks - 1) / Self.maximumTTLTicks)
            resolutionNanoseconds = resolution.multipliedReportingOverflow(by: factor).overflow ? .max : resolution * factor
            ttlTicks = UInt32(clamping: ttlNanoseconds / resolutionNanoseconds)
        } else {
            resolutionNanoseconds = resolution
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
        // 2³¹ ticks back, but at most 2⁶² ns (146 years): with ticks of ≥ 4.3 s, 2³¹ of them
        // would overflow Int64 and pin every tick at the top of the range.
        let offset = min(Int64(1) << 31, (Int64(1) << 62) / resolutionNanoseconds) * resolutionNanoseconds
        epoch = Timestamp(nanosecondsSinceEpoch: saturatingAdd(clock.now().nanosecondsSinceEpoch, -offset))
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
        TickContext(now: tick(clock.now()), ttl: ttlTicks, closeAge: max(1, ttlTicks / 8))
    }

    /// Copies the rows of `keys` into `rows` (`keys.count × dimension`, row-major).
    ///
    /// A key without a live row reads as zeros unless `create` is true and the admission policy
    /// admits it, in which case a row is initialised (deterministically from the key) and
    /// returned. Reading a live row counts as a touch for expiry. Expired rows are never
    /// returned: with `create` they are re-initialised, otherwise they read as zeros.
    ///
    /// - Complexity: O(n · d) plus O(shards) for grouping; one lock per shard touched (per
    ///   chunk of 4096 keys). Allocates nothing once the calling thread has made a call this
    ///   large (the per-key scratch is per thread, see `ThreadScratch`).
    public func pull(keys: UnsafeBufferPointer<UInt64>, into rows: UnsafeMutableBufferPointer<Float>, create: Bool) {
        let d = config.dimension
        precondition(rows.count >= keys.count * d, "rows holds \(rows.count) floats; \(keys.count) keys × dimension \(d) needed")
        guard let keyBase = keys.baseAddress, let rowBase = rows.baseAddress else { return }
        let ticks = self.ticks
        ShardRouting.forEachChunk(keys: keys, shardMask: shards.count - 1) { offset, g in
            for s in 0..<shards.count where g.starts[s + 1] > g.starts[s] {
                shards[s].withLock { shard in
                    shard.pull(order: g.order + g.starts[s], n: g.starts[s + 1] - g.starts[s], keys: keyBase + offset,
                               hashes: g.hashes, slots: g.slots, rows: rowBase + offset * d, create: create,
                               policy: policy, ticks: ticks)
                }
            }
        }
    }

    /// Applies `gradients` (`keys.count × dimension`) with the row optimiser. Keys must be unique
    /// within one call. Keys without a live row (never admitted, or expired) are skipped and
    /// counted in ``EmbeddingStoreStatistics/pushesDropped``.
    ///
    /// - Complexity: O(n · d); one lock per shard touched (per chunk of 4096 keys). Allocates
    ///   nothing once the calling thread has made a call this large.
    public func push(keys: UnsafeBufferPointer<UInt64>, gradients: UnsafeBufferPointer<Float>) {
        let d = config.dimension
        precondition(gradients.count >= keys.count * d, "gradients holds \(gradients.count) floats; \(keys.count) keys × dimension \(d) needed")
        guard let keyBase = keys.baseAddress, let gradBase = gradients.baseAddress else { return }
        let ticks = self.ticks
        ShardRouting.forEachChunk(keys: keys, shardMask: shards.count - 1) { offset, g in
            for s in 0..<shards.count where g.starts[s + 1] > g.starts[s] {
                shards[s].withLock { shard in
                    shard.push(order: g.order + g.starts[s], n: g.starts[s + 1] - g.starts[s], keys: keyBase + offset,
                               hashes: g.hashes, slots: g.slots, gradients: gradBase + offset * d, policy: policy, ticks: ticks)
                }
            }
        }
    }

    /// Reclaims expired rows. Called by the owner (the server's periodic task); the library
    /// runs no timers.
    ///
    /// Each shard's slab pages form a FIFO by append time; pages whose newest append is a TTL
    /// old are walked, expired rows dropped and rows touched since re-queued (lazy re-check).
    /// A row is reclaimed at most TTL/8 after it expires, or TTL + TTL/8 if it was re-queued
    /// (plus the sweep period); it is never served meanwhile.
    ///
    /// - Complexity: O(expired rows + re-queued rows), independent of live rows not yet due;
    ///   each live row is re-queued at most once per TTL. One lock per shard, held only for
    ///   that shard's work.
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
                total.rowsRequeued += s.statistics.rowsRequeued
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
    /// Live rows a sweep found in a due page (touched since they were appended) and moved to
    /// the tail of the expiry queue.
    public var rowsRequeued = 0
    /// `create` pulls of keys not yet admitted.
    public var admissionsDeferred = 0
    /// Gradients skipped because the key had no live row.
    public var pushesDropped = 0
    /// `rows × d × 4`: the raw floats.
    public var rowBytes = 0
    /// `rows × s × 4`: the optimiser-state floats the algorithm needs (adagrad's accumulator,
    /// adam's moments and powers), reported apart from the overhead.
    public var optimizerStateBytes = 0
    /// Everything else the table holds on the heap: keys, touch offsets, unused records of
    /// partly filled pages (their row and state floats included), page tables, index,
    /// admission sketch.
    public var overheadBytes = 0

    public init() {}

    /// `overheadBytes / rowBytes`.
    public var overheadRatio: Double { rowBytes == 0 ? 0 : Double(overheadBytes) / Double(rowBytes) }
}
