/// How a user's history is encoded (§8: `Enc ∈ {BoW mean, CNN, GRU/LSTM}`).
public enum HistoryEncoderKind: Sendable, Equatable, CustomStringConvertible {
    /// The masked mean of the history items' embeddings (``MaskedMean``).
    case bagOfWords
    /// A GRU over the history, oldest item first; its last state of width `hidden` (``GRU``).
    case gru(hidden: Int)
    /// An LSTM over the history, oldest item first; its last hidden state of width `hidden` (``LSTM``).
    case lstm(hidden: Int)
    /// `filters` convolutions `width` items wide, ReLU, max-pooled over the history (``ConvMaxPool``).
    case cnn(filters: Int, width: Int)

    public var description: String {
        switch self {
        case .bagOfWords: "bow"
        case .gru(let hidden): "gru\(hidden)"
        case .lstm(let hidden): "lstm\(hidden)"
        case .cnn(let filters, let width): "cnn\(filters)x\(width)"
        }
    }

    /// Whether the encoder reads the history as a time-major sequence (``SequenceGather``).
    var readsSequence: Bool { self != .bagOfWords }
}

/// The two-tower model's shape and its training settings.
///
/// ```
/// user  u   = normalize(MLP_u(Enc(history embeddings)))          (B, d)
/// item  v_i = normalize(MLP_i([item embedding_i | genres_i]))     (N, d)
/// score s(u, i) = ⟨u, v_i⟩ / τ
/// ```
public struct RetrievalConfig: Sendable, Equatable {
    /// `N`, catalogue rows.
    public var items: Int
    /// `G`, width of the items' fixed content features (0: none).
    public var itemFeatures: Int
    /// `e`, width of the item-id and history embeddings.
    public var embeddingWidth = 32
    /// `d`, width of `u` and `v_i`.
    public var dimension = 64
    /// Hidden width of both towers' MLPs (one hidden layer, ReLU).
    public var hiddenWidth = 128
    /// The history encoder.
    public var encoder = HistoryEncoderKind.bagOfWords
    /// The default `τ`: the validation choice on ml-latest-small (Sources/Retrieval/README.md).
    public static let defaultTemperature: Float = 0.1
    /// The default `M`: no queue (cross-batch negatives lowered validation recall on ml-latest-small).
    public static let defaultQueueCapacity = 0
    /// `τ` (default ``defaultTemperature``).
    public var temperature: Float = Self.defaultTemperature
    /// `L`, the most recent history items the user tower reads.
    public var maxHistory = 50
    /// `M`, cross-batch negatives kept (0: in-batch negatives only; default ``defaultQueueCapacity``).
    public var queueCapacity = Self.defaultQueueCapacity
    /// Optimizer steps on in-batch negatives only before the queue's entries join the softmax:
    /// early on the item tower drifts fast, and stale queued embeddings are then told apart by
    /// their age rather than their content (Wang et al. SIGIR 2021 warm up the same way).
    public var queueWarmupSteps = 1000
    /// Whether logits are corrected by `− log Q(item)`.
    public var logQCorrection = true
    /// Adam's step size.
    public var learningRate: Float = 1e-3
    /// Rows per training batch.
    public var batchSize = 256
    /// Seeds the initialisation and the example order.
    public var seed: UInt64 = 1
    /// Per-request adaptation of `u` in the training loop (first-order meta-learning: the loss of
    /// each example is taken at `u` adapted on its history's last items, its gradient passed to
    /// the tower as if the adaptation were the identity), in validation, and the model's default
    /// in `retrieval eval` and `/v1/recommend`; nil: trained, validated and served unadapted.
    public var adaptation: UserAdaptation?

    /// A configuration for a catalogue of `items` rows with `itemFeatures` content columns.
    public init(items: Int, itemFeatures: Int) {
        self.items = items
        self.itemFeatures = itemFeatures
    }

    /// Checks the settings (outside input: command-line values).
    public func validate() throws(RetrievalError) {
        func require(_ ok: Bool, _ reason: String) throws(RetrievalError) {
            if !ok { throw .invalidSetting(reason) }
        }
        try require(items >= 1, "items must be >= 1, got \(items)")
        try require(itemFeatures >= 0, "item features must be >= 0, got \(itemFeatures)")
        try require(embeddingWidth >= 1 && dimension >= 1 && hiddenWidth >= 1,
                    "widths must be >= 1: embedding \(embeddingWidth), dimension \(dimension), hidden \(hiddenWidth)")
        switch encoder {
        case .bagOfWords: break
        case .gru(let h): try require(h >= 1, "GRU hidden width must be >= 1, got \(h)")
        case .lstm(let h): try require(h >= 1, "LSTM hidden width must be >= 1, got \(h)")
        case .cnn(let f, let w):
            try require(f >= 1, "CNN filters must be >= 1, got \(f)")
            try require(w >= 1 && w <= maxHistory, "CNN window width must be in 1 ... max history (\(maxHistory)), got \(w)")
        }
        try require(temperature > 0 && temperature.isFinite, "temperature must be > 0, got \(temperature)")
        try require(maxHistory >= 1, "max history must be >= 1, got \(maxHistory)")
        try require(queueCapacity >= 0, "queue capacity must be >= 0, got \(queueCapacity)")
        try require(queueWarmupSteps >= 0, "queue warm-up steps must be >= 0, got \(queueWarmupSteps)")
        try require(learningRate > 0 && learningRate.isFinite, "learning rate must be > 0, got \(learningRate)")
        try require(batchSize >= 2, "batch size must be >= 2, got \(batchSize)")
    }

    /// Width of the encoder's output (the user MLP's input).
    public var encodedWidth: Int {
        switch encoder {
        case .bagOfWords: embeddingWidth
        case .gru(let hidden), .lstm(let hidden): hidden
        case .cnn(let filters, _): filters
        }
    }
}

/// Errors of the retrieval module from outside input (settings, data files, model files).
public enum RetrievalError: Error, CustomStringConvertible, Equatable {
    /// A setting is out of range.
    case invalidSetting(String)
    /// A data file cannot be read or is malformed (`file:line: reason`).
    case malformedData(file: String, line: Int, reason: String)
    /// A model file does not fit.
    case mismatch(String)

    public var description: String {
        switch self {
        case .invalidSetting(let reason): "invalid setting: \(reason)"
        case .malformedData(let file, let line, let reason): "\(file):\(line): \(reason)"
        case .mismatch(let reason): "model mismatch: \(reason)"
        }
    }
}
