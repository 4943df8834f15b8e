/// How a new embedding row is filled.
public enum RowInitializer: Sendable, Equatable {
    /// All zeros.
    case zeros
    /// Uniform in `[-bound, bound)`, a pure function of `(key, seed, column)`, so a row's
    /// initial value never depends on thread timing or insertion order.
    case uniform(bound: Float, seed: UInt64)
}

/// When a key seen for the first time gets a row.
public enum Admission: Sendable, Equatable {
    /// On first `pull(…, create: true)`.
    case always
    /// On the n-th `pull(…, create: true)` of the key (1 ≤ n ≤ 255); before that it reads as
    /// a zero row and pushes to it are dropped. Counted in a fixed-size count-min sketch, so a
    /// rare key may be admitted a little early (never late).
    case afterSightings(Int)
}

/// The per-row optimiser applied by ``EmbeddingStore/push(keys:gradients:)``.
///
/// ```
/// sgd:      w ← w − η g
/// adagrad:  a ← a + g²;  w ← w − η g / (√a + ε)                         (Duchi et al. 2011)
/// adam:     m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  t counted per row  (Kingma & Ba 2015)
///           w ← w − η m̂ / (√v̂ + ε),  m̂ = m / (1−β₁ᵗ),  v̂ = v / (1−β₂ᵗ)
/// ```
public enum RowOptimizer: Sendable, Equatable {
    case sgd(learningRate: Float)
    case adagrad(learningRate: Float, initialAccumulator: Float, epsilon: Float)
    case adam(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float)

    /// Optimiser floats stored per row for dimension `d`: 0, d (accumulator), 2d + 2
    /// (m, v, β₁ᵗ, β₂ᵗ).
    public func stateWidth(dimension d: Int) -> Int {
        switch self {
        case .sgd: return 0
        case .adagrad: return d
        case .adam: return 2 * d + 2
        }
    }

    var tag: UInt32 {
        switch self {
        case .sgd: return 1
        case .adagrad: return 2
        case .adam: return 3
        }
    }
}

/// Configuration of an ``EmbeddingStore``; validated by the store's initialiser.
public struct EmbeddingStoreConfig: Sendable, Equatable {
    /// Row width `d`.
    public var dimension: Int
    /// Number of lock shards, a power of two (default 16: a batched pull takes each shard's lock
    /// once, and with a few threads 16 shards contend no more than 64; see the module README).
    public var shardCount: Int
    public var initializer: RowInitializer
    public var admission: Admission
    public var expiry: Expiry
    public var optimizer: RowOptimizer
    /// Granularity of the per-row touch time (default 1 s). A row expires after between
    /// `ttl − r` and `ttl` of no touch (early, never late), where the effective resolution
    /// `r = timeResolution · max(1, ⌈ttl / (2¹⁴ · timeResolution)⌉)`: touches are stored in
    /// 16 bits, so a time to live spans at most 16 384 ticks (e.g. 6 s for a 1-day TTL).
    public var timeResolution: Duration
    /// Count-min sketch counters per row per shard for ``Admission/afterSightings(_:)``
    /// (default 64 K: with the default 16 shards, 4 M counters in all).
    public var admissionSketchWidth: Int

    public init(
        dimension: Int, shardCount: Int = 16, initializer: RowInitializer = .zeros,
        admission: Admission = .always, expiry: Expiry = .none,
        optimizer: RowOptimizer = .sgd(learningRate: 0.01),
        timeResolution: Duration = .seconds(1), admissionSketchWidth: Int = 1 << 16
    ) {
        self.dimension = dimension
        self.shardCount = shardCount
        self.initializer = initializer
        self.admission = admission
        self.expiry = expiry
        self.optimizer = optimizer
        self.timeResolution = timeResolution
        self.admissionSketchWidth = admissionSketchWidth
    }

    func validate() throws(ParamServerError) {
        func fail(_ field: String, _ reason: String) -> ParamServerError {
            .invalidConfiguration(field: field, reason: reason)
        }
        guard dimension >= 1 && dimension <= 65_536 else { throw fail("dimension", "\(dimension) is not in 1...65536") }
        guard shardCount >= 1 && shardCount <= 65_536 && shardCount & (shardCount - 1) == 0 else {
            throw fail("shardCount", "\(shardCount) is not a power of two in 1...65536")
        }
        if case let .uniform(bound, _) = initializer, !(bound.isFinite && bound >= 0) {
            throw fail("initializer", "uniform bound \(bound) must be finite and ≥ 0")
        }
        if case let .afterSightings(n) = admission, !(1...255).contains(n) {
            throw fail("admission", "afterSightings(\(n)) must be in 1...255")
        }
        guard timeResolution > .zero else { throw fail("timeResolution", "must be positive") }
        if case let .timeToLive(ttl) = expiry, ttl < timeResolution {
            throw fail("expiry", "time to live \(ttl) is shorter than the time resolution \(timeResolution)")
        }
        guard admissionSketchWidth >= 64 && admissionSketchWidth & (admissionSketchWidth - 1) == 0 else {
            throw fail("admissionSketchWidth", "\(admissionSketchWidth) is not a power of two ≥ 64")
        }
        let finite: Bool
        switch optimizer {
        case let .sgd(lr): finite = lr.isFinite && lr > 0
        case let .adagrad(lr, a0, eps): finite = lr.isFinite && lr > 0 && a0.isFinite && a0 >= 0 && eps.isFinite && eps > 0
        case let .adam(lr, b1, b2, eps):
            finite = lr.isFinite && lr > 0 && (0..<1).contains(b1) && (0..<1).contains(b2) && eps.isFinite && eps > 0
        }
        guard finite else { throw fail("optimizer", "\(optimizer) has an out-of-range hyper-parameter") }
    }
}
