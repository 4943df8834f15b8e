/// Global caps on the support store, each optional; when any is exceeded, least-recently-used
/// tasks are evicted until all hold (`append` and `pull` both count as use).
///
/// `MemoryBound.tasks(10_000)`, `.bytes(1 << 30)`, or both: `MemoryBound(tasks: 10_000, bytes: 1 << 30)`.
public struct MemoryBound: Sendable, Equatable {
    /// Tasks (users) stored.
    public var maxTasks: Int?
    /// Bytes charged to tasks: the sum of ``SupportStore/taskBytes(rows:)`` over stored tasks
    /// (each task's block as the allocator hands it out, its entry and its index bucket share).
    public var maxBytes: Int?
    /// Support rows stored, over all tasks.
    public var maxRows: Int?

    public init(tasks: Int? = nil, bytes: Int? = nil, rows: Int? = nil) {
        maxTasks = tasks
        maxBytes = bytes
        maxRows = rows
    }

    /// No bound.
    public static let none = MemoryBound()
    /// At most `n` tasks.
    public static func tasks(_ n: Int) -> MemoryBound { MemoryBound(tasks: n) }
    /// At most `n` bytes charged to tasks (see ``maxBytes``).
    public static func bytes(_ n: Int) -> MemoryBound { MemoryBound(bytes: n) }
    /// At most `n` rows.
    public static func rows(_ n: Int) -> MemoryBound { MemoryBound(rows: n) }

    /// Largest value each limit accepts (so sums and products of them never overflow).
    static let limit = 1 << 50

    func validate() throws(ParamServerError) {
        for (name, value) in [("tasks", maxTasks), ("bytes", maxBytes), ("rows", maxRows)] {
            guard let v = value else { continue }
            guard v > 0 && v <= Self.limit else {
                throw .invalidConfiguration(field: "memoryBound", reason: "\(name)(\(v)) is not in 1...\(Self.limit)")
            }
        }
    }
}

/// Configuration of a ``SupportStore``; validated by the store's initialiser.
public struct SupportStoreConfig: Sendable, Equatable {
    /// Floats of meta-layer input per row, `W = K · H` (f_1 … f_K concatenated).
    public var rowWidth: Int
    /// Labels per row, `L = K`.
    public var labelWidth: Int
    /// Rows kept per task, `S_max` (the ring buffer's capacity).
    public var capacity: Int
    /// Rows written longer ago than the time to live are not served (beyond the keep floor).
    public var expiry: Expiry
    /// A task's newest `keepFloor` rows are exempt from time-to-live expiry (they are served and
    /// survive sweeps), but not from model-version expiry or the memory bound.
    public var keepFloor: Int
    public var memoryBound: MemoryBound
    /// Version tag written with every row; rows of any other version read as expired.
    public var modelVersion: UInt64
    /// Number of lock shards, a power of two.
    public var shardCount: Int
    /// How the meta-layer inputs are kept: `float32` (as given) or `bfloat16` (half the bytes,
    /// rounded to nearest even; ``SupportPrecision``). Labels, times and versions are kept as given.
    public var precision: SupportPrecision
    /// The last `bitPatternColumns` of a row's `W` values are bit patterns, not numbers (the support
    /// encoder's item key, two floats' bits): kept as their 32 bits at every precision. In `0...W`.
    public var bitPatternColumns: Int

    public init(
        rowWidth: Int, labelWidth: Int, capacity: Int, expiry: Expiry = .none, keepFloor: Int = 0,
        memoryBound: MemoryBound = .none, modelVersion: UInt64 = 0, shardCount: Int = 64,
        precision: SupportPrecision = .float32, bitPatternColumns: Int = 0
    ) {
        self.rowWidth = rowWidth
        self.labelWidth = labelWidth
        self.capacity = capacity
        self.expiry = expiry
        self.keepFloor = keepFloor
        self.memoryBound = memoryBound
        self.modelVersion = modelVersion
        self.shardCount = shardCount
        self.precision = precision
        self.bitPatternColumns = bitPatternColumns
    }

    func validate() throws(ParamServerError) {
        func fail(_ field: String, _ reason: String) -> ParamServerError {
            .invalidConfiguration(field: field, reason: reason)
        }
        guard rowWidth >= 1 && rowWidth <= 1 << 20 else { throw fail("rowWidth", "\(rowWidth) is not in 1...\(1 << 20)") }
        guard labelWidth >= 0 && labelWidth <= 1 << 12 else { throw fail("labelWidth", "\(labelWidth) is not in 0...\(1 << 12)") }
        guard capacity >= 1 && capacity <= 1 << 16 else { throw fail("capacity", "\(capacity) is not in 1...65536") }
        guard rowWidth * capacity <= 1 << 26 else {
            throw fail("capacity", "rowWidth × capacity = \(rowWidth * capacity) floats a task exceeds \(1 << 26)")
        }
        guard bitPatternColumns >= 0 && bitPatternColumns <= rowWidth else {
            throw fail("bitPatternColumns", "\(bitPatternColumns) is not in 0...rowWidth (\(rowWidth))")
        }
        guard keepFloor >= 0 && keepFloor <= capacity else { throw fail("keepFloor", "\(keepFloor) is not in 0...capacity (\(capacity))") }
        if case let .timeToLive(ttl) = expiry, ttl <= .zero { throw fail("expiry", "time to live must be positive") }
        try memoryBound.validate()
        guard shardCount >= 1 && shardCount <= 65_536 && shardCount & (shardCount - 1) == 0 else {
            throw fail("shardCount", "\(shardCount) is not a power of two in 1...65536")
        }
    }
}
