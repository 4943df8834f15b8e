import Synchronization

/// The support store on Redis (docs/DESIGN.md §Parameter server, §Planned "serving fleet"): every
/// server of a fleet reads and writes the same rows, so an event recorded by one replica
/// fine-tunes the next request on another.
///
/// Layout (DESIGN §10): one list per task at `PREFIX:<model version>:sup:<task key>` (both hex),
/// each element a row, little-endian, oldest first:
///
/// ```
/// float32 row   [write ns: Int64][event ns: Int64][f: W × Float32][y: L × Float32]                  16 + 4W + 4L bytes
/// bfloat16 row  [write ns: Int64][event ns: Int64][f: (W − X) × bf16][X × 32-bit patterns][y: L × Float32]
///                                                                                               16 + 2(W − X) + 4X + 4L bytes
/// ```
/// The row's length carries its precision: W, L and X are fixed for a key (the model version is
/// in it), and the two lengths differ by `2(W − X)` (equal only when every column is a bit
/// pattern, and then the bytes are the same too). A reader decodes rows of either length, so
/// replicas with different ``SupportStoreConfig/precision`` settings share rows without
/// misreading them (a fleet can change precision in a rolling restart once every replica runs a
/// build that reads both: older builds skip bf16 rows), and rows of any other length are skipped. Writers write at their own precision.
///
/// ```
/// append (per task, one EVAL = one atomic step):  RPUSH rows… ; LTRIM −S_max −1 ; PEXPIRE idle
/// pull   (all tasks of a batch, one pipelined round trip):  LRANGE −S_max −1
/// served = scanning from the newest row back, while (k < keep floor or age < TTL) — the
///          in-process rule; returned oldest first
/// ```
/// The model version is in the key, so rows of another version are never read; they leave with
/// their key's expiry. TTL and keep floor are applied on read with the injected clock, exactly
/// as the in-process store does; the key's idle expiry only reclaims memory: twice the TTL, or
/// ``keepFloorIdleSeconds`` (default 90 days) when a keep floor protects rows from the TTL (a
/// user idle that long loses their floor rows, which the in-process store would keep until its
/// memory bound evicts them); no expiry without a TTL. Redis's `maxmemory` with an LRU policy
/// bounds memory. ``sweep()`` has nothing to do.
///
/// Connections: a pool; each call checks one out, so concurrent batch workers each hold their
/// own. A pooled connection that broke (Redis restarted, an idle timeout closed it) is replaced
/// by a fresh one and the call retried once (never after a timeout: the commands may still run);
/// a fresh connection that fails blocks new attempts
/// for ``reconnectBackoff`` seconds, during which calls fail fast with ``RedisError/connection(_:)``.
public final class RedisSupportStore: Sendable {
    public let address: RedisAddress
    public let rowWidth: Int
    public let labelWidth: Int
    /// `S_max`.
    public let capacity: Int
    /// The precision rows are written at (``SupportStoreConfig/precision``); rows of both are read.
    public let precision: SupportPrecision
    /// `X`: trailing columns of a row kept as 32-bit patterns at every precision.
    public let bitPatternColumns: Int
    public let keyPrefix: String
    /// Seconds between reconnection attempts after a failure.
    public let reconnectBackoff: Double
    /// A task's key expiry when a keep floor protects its newest rows from the TTL.
    public let keepFloorIdleSeconds: Int64
    let ttlNanoseconds: Int64
    let keepFloor: Int
    let timeoutSeconds: Double
    let clock: any ParamServerClock
    private let version: Atomic<UInt64>
    private let pool = Mutex<[PooledConnection]>([])
    private let lastFailure = Mutex<ContinuousClock.Instant?>(nil)
    private let counters = Mutex(RedisSupportStatistics())

    func withStatistics(_ body: (inout RedisSupportStatistics) -> Void) { counters.withLock { body(&$0) } }

    public init(address: RedisAddress, config: SupportStoreConfig, keyPrefix: String = "metarec:support",
                timeoutSeconds: Double = 0.05, reconnectBackoff: Double = 0.5, keepFloorIdleSeconds: Int64 = 90 * 86_400,
                clock: any ParamServerClock = SystemClock()) throws(ParamServerError) {
        guard config.rowWidth >= 1, config.labelWidth >= 0, config.capacity >= 1 else {
            throw .invalidConfiguration(field: "support_store", reason: "row width, label width and capacity must be positive")
        }
        guard config.bitPatternColumns >= 0 && config.bitPatternColumns <= config.rowWidth else {
            throw .invalidConfiguration(field: "bitPatternColumns", reason: "\(config.bitPatternColumns) is not in 0...rowWidth (\(config.rowWidth))")
        }
        guard timeoutSeconds > 0 else { throw .invalidConfiguration(field: "redis timeout", reason: "must be > 0") }
        self.address = address
        self.rowWidth = config.rowWidth
        self.labelWidth = config.labelWidth
        self.capacity = config.capacity
        self.precision = config.precision
        self.bitPatternColumns = config.bitPatternColumns
        self.keyPrefix = keyPrefix
        self.reconnectBackoff = reconnectBackoff
        self.keepFloorIdleSeconds = keepFloorIdleSeconds
        if case .timeToLive(let d) = config.expiry { ttlNanoseconds = max(1, d.saturatingNanoseconds) } else { ttlNanoseconds = 0 }
        self.keepFloor = config.keepFloor
        self.timeoutSeconds = timeoutSeconds
        self.clock = clock
        self.version = Atomic(config.modelVersion)
    }

    /// Rows written from now on carry this version; rows of other versions are never served.
    public var modelVersion: UInt64 { version.load(ordering: .acquiring) }

    public func setModelVersion(_ v: UInt64) { version.store(v, ordering: .releasing) }

    /// Bytes of one row written by this store (at ``precision``): the store's memory per row in
    /// Redis before Redis's own per-element overhead.
    public var rowBytes: Int { rowBytes(precision) }

    /// Bytes of one row at `precision`: `16 + 4L + 4W` (float32) or `16 + 4L + 2(W − X) + 4X` (bfloat16).
    public func rowBytes(_ precision: SupportPrecision) -> Int {
        16 + 4 * labelWidth + precision.bytesPerValue * (rowWidth - bitPatternColumns) + 4 * bitPatternColumns
    }

    /// Counters since start (appends, pulls, round trips, failures).
    public var statistics: RedisSupportStatistics { counters.withLock { $0 } }

    /// The key of `task`'s list under the current model version.
    func key(task: UInt64, version v: UInt64) -> [UInt8] {
        Array("\(keyPrefix):\(String(v, radix: 16)):sup:\(String(task, radix: 16))".utf8)
    }

    /// Runs `body` with a pooled connection (opened on demand), returning it afterwards unless
    /// it failed; a failure blocks new connections for ``reconnectBackoff`` seconds.
    ///
    /// Only a broken pooled connection (``RedisError/connection(_:)``: a server that restarted
    /// or closed an idle socket) is retried once on a fresh one. A timeout is not: the commands
    /// were sent, and a slow server still runs them, so a retry would append the rows twice.
    func withConnection<R>(_ body: (RedisConnection) throws(RedisError) -> R) throws(RedisError) -> R {
        if let pooled = pool.withLock({ $0.popLast() })?.connection {
            do {
                return try run(body, on: pooled)
            } catch .connection {
                // A stale pooled connection: fall through to one fresh attempt.
            } catch {
                if case .timeout = error { noteFailure() }
                throw error
            }
        }
        let blocked = lastFailure.withLock { last in
            last.map { ContinuousClock.now - $0 < .milliseconds(Int64(reconnectBackoff * 1000)) } ?? false
        }
        if blocked { throw .connection("\(address) is down (retrying every \(reconnectBackoff) s)") }
        let fresh: RedisConnection
        do {
            fresh = try RedisConnection(address: address, timeoutSeconds: timeoutSeconds)
        } catch {
            noteFailure()
            throw error
        }
        do {
            return try run(body, on: fresh)
        } catch {
            noteFailure()
            throw error
        }
    }

    /// `body` on `c`; `c` goes back to the pool when it is still usable.
    private func run<R>(_ body: (RedisConnection) throws(RedisError) -> R, on c: RedisConnection) throws(RedisError) -> R {
        let result: R
        do {
            result = try body(c)
        } catch {
            if c.isUsable { pool.withLock { $0.append(PooledConnection(connection: c)) } }
            throw error
        }
        pool.withLock { $0.append(PooledConnection(connection: c)) }
        counters.withLock { $0.roundTrips += 1 }
        return result
    }

    private func noteFailure() {
        lastFailure.withLock { $0 = ContinuousClock.now }
        counters.withLock { $0.failures += 1 }
    }
}

/// A connection in the pool: used by one caller at a time — the pool's lock hands it from one
/// to the next and nothing keeps a reference after returning it, which is the `@unchecked`'s promise.
private struct PooledConnection: @unchecked Sendable {
    let connection: RedisConnection
}

/// What a ``RedisSupportStore`` has done since start.
public struct RedisSupportStatistics: Sendable, Equatable {
    public var rowsAppended = 0
    public var pulls = 0
    /// Pipelined round trips that completed.
    public var roundTrips = 0
    /// Connection failures and timeouts.
    public var failures = 0
    /// Pulled list elements that were not a row of either precision's length (written around the
    /// store, or by a build with another row layout), skipped.
    public var skippedRows = 0

    public init() {}
}
