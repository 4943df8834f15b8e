import ModelMath

/// Turns rows of raw field values into ``EncodedBatch`` rows: the boundary between strings
/// and the model. Training (CSV), evaluation and serving (JSON) all encode through it, so a
/// value means the same thing everywhere.
///
/// Per input column (see ``columns``):
/// ```
/// categorical        key = FeatureKey.hash(feature, value)           (the empty value is a value)
/// multi_categorical  split on the separator, empty parts dropped, each part hashed as above
/// numeric            x = Double(value); empty = missing → 0 after normalisation
///                    standard: (x − mean) / max(std, 1e-6)   log1p: sign(x)·log1p(|x|)   none: x
/// binary label       0 / 1 (also 0.0 / 1.0, true / false); empty = missing → NaN
/// regression label   any finite number; empty = missing → NaN
/// task key           FeatureKey.hash(task_key column name, value)
/// scene_embedding    private: FeatureKey.scoped(key, the row's scene column key)   (categorical, multi)
///                    shared_and_private: the shared key, and the private one in an extra block
/// time               integer or decimal seconds, rounded down to Int64; required when configured
/// ```
/// Leading and trailing ASCII spaces and tabs around numbers, labels and timestamps are ignored;
/// categorical values are hashed exactly as given.
///
/// Thread safety: immutable and `Sendable`; each thread keeps its own ``Scratch``.
public struct FeatureEncoder: Sendable {
    /// The config the encoder was built from.
    public let config: ModelConfig
    /// The fitted numeric statistics.
    public let statistics: NumericStatistics
    /// Every input column the encoder reads, each once, in a fixed order: the task key, the
    /// time, the features, then the labels (config order). A row is given as one value per
    /// slot of this list.
    public let columns: [String]

    let taskSlot: Int
    let taskHasher: FeatureKeyHasher
    let timeSlot: Int?
    let categoricalPlans: [CategoricalPlan]
    let multiPlans: [MultiCategoricalPlan]
    let numericPlans: [NumericPlan]
    let labelPlans: [LabelPlan]
    /// The scene-private blocks, or `nil` when there are none (``ModelConfig/SceneEmbedding``).
    let scenePlan: ScenePlan?

    /// Which keys depend on the row's scene: the scene column's index among the categorical
    /// plans, and per categorical / multi-categorical plan whether its keys are scoped.
    struct ScenePlan: Sendable {
        let sceneIndex: Int
        let categorical: [Bool]
        let multi: [Bool]
    }

    struct CategoricalPlan: Sendable {
        let slot: Int
        let hasher: FeatureKeyHasher
    }

    struct MultiCategoricalPlan: Sendable {
        let slot: Int
        let hasher: FeatureKeyHasher
        let separator: [UInt8]
    }

    struct NumericPlan: Sendable {
        let slot: Int
        let normalization: ModelConfig.Normalization
        let mean: Double
        let inverseStd: Double
    }

    struct LabelPlan: Sendable {
        let slot: Int
        let kind: ModelConfig.LabelKind
    }

    /// The smallest standard deviation used by `standard` normalisation (constant columns).
    public static let standardDeviationFloor = 1e-6

    /// An encoder for `config` with fitted `statistics`.
    ///
    /// - Throws: ``FeatureEncoderError/missingStatistics(feature:)`` when a `standard` numeric
    ///   feature has no moments. Use ``init(unfittedConfig:)`` for the fitting pass itself.
    public init(config: ModelConfig, statistics: NumericStatistics) throws(FeatureEncoderError) {
        for f in config.numericFeatures {
            if case .numeric(.standard) = f.kind, statistics[f.name] == nil {
                throw .missingStatistics(feature: f.name)
            }
        }
        self.init(config: config, checkedStatistics: statistics)
    }

    /// An encoder with no fitted statistics (standard normalisation uses mean 0, std 1): for the
    /// pass that fits ``NumericStatistics`` from the raw values (``Scratch/rawNumeric``).
    public init(unfittedConfig config: ModelConfig) {
        self.init(config: config, checkedStatistics: NumericStatistics())
    }

    private init(config: ModelConfig, checkedStatistics statistics: NumericStatistics) {
        self.config = config
        self.statistics = statistics
        var columns: [String] = []
        var slots: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let s = slots[name] { return s }
            columns.append(name)
            slots[name] = columns.count - 1
            return columns.count - 1
        }
        taskSlot = slot(config.taskKey)
        taskHasher = FeatureKeyHasher(feature: config.taskKey)
        timeSlot = config.time.map(slot)
        var categorical: [CategoricalPlan] = [], multi: [MultiCategoricalPlan] = [], numeric: [NumericPlan] = []
        for f in config.features {
            let s = slot(f.name)
            switch f.kind {
            case .categorical:
                categorical.append(.init(slot: s, hasher: FeatureKeyHasher(feature: f.name)))
            case .multiCategorical(let separator, _):
                multi.append(.init(slot: s, hasher: FeatureKeyHasher(feature: f.name), separator: Array(separator.utf8)))
            case .numeric(let normalization):
                let m = statistics[f.name]
                let std = max(m?.standardDeviation ?? 1, Self.standardDeviationFloor)
                numeric.append(.init(slot: s, normalization: normalization, mean: m?.mean ?? 0, inverseStd: 1 / std))
            }
        }
        // The private blocks of `shared_and_private` features read their feature's column again.
        for f in config.categoricalFeatures.dropFirst(categorical.count) {
            categorical.append(.init(slot: slot(f.name), hasher: FeatureKeyHasher(feature: f.name)))
        }
        for f in config.multiCategoricalFeatures.dropFirst(multi.count) {
            guard case .multiCategorical(let separator, _) = f.kind else { preconditionFailure("a multi-categorical block of kind \(f.kind)") }
            multi.append(.init(slot: slot(f.name), hasher: FeatureKeyHasher(feature: f.name), separator: Array(separator.utf8)))
        }
        categoricalPlans = categorical
        multiPlans = multi
        let categoricalBlocks = config.categoricalFeatures, multiBlocks = config.multiCategoricalFeatures
        // Validation refuses these; a config built in code must not lose its scoping silently.
        precondition(config.numericFeatures.allSatisfy { $0.sceneEmbedding == .shared },
                     "FeatureEncoder: a numeric feature has no embedding rows to make scene-private")
        precondition(config.sceneCategoricalIndex != nil || (categoricalBlocks + multiBlocks).allSatisfy { $0.sceneEmbedding == .shared },
                     "FeatureEncoder: scene-private features need a categorical scene column (the config was not validated)")
        if (categoricalBlocks + multiBlocks).contains(where: { $0.sceneEmbedding == .private }),
           let sceneIndex = config.sceneCategoricalIndex {
            scenePlan = ScenePlan(sceneIndex: sceneIndex, categorical: categoricalBlocks.map { $0.sceneEmbedding == .private },
                                  multi: multiBlocks.map { $0.sceneEmbedding == .private })
        } else {
            scenePlan = nil
        }
        numericPlans = numeric
        labelPlans = config.labels.map { LabelPlan(slot: slot($0.name), kind: $0.kind) }
        self.columns = columns
    }

    /// An empty batch with this encoder's widths, with room for `rows` rows.
    public func makeBatch(reservingRows rows: Int = 0) -> EncodedBatch {
        var batch = EncodedBatch(
            categoricalWidth: categoricalPlans.count, multiCategoricalWidth: multiPlans.count,
            numericWidth: numericPlans.count, labelWidth: labelPlans.count)
        batch.reserveCapacity(rows)
        return batch
    }

    /// Per-thread buffers for one row, reused so encoding allocates nothing after warm-up.
    public struct Scratch: Sendable {
        var categorical: [UInt64] = []
        var multi: [[UInt64]] = []
        var numeric: [Float] = []
        /// The raw (un-normalised) numeric values of the last parsed row, in
        /// ``ModelConfig/numericFeatures`` order; NaN = missing. The fitting pass reads these.
        public internal(set) var rawNumeric: [Double] = []
        /// The labels of the last parsed row, in ``ModelConfig/labels`` order; NaN = missing.
        public internal(set) var labels: [Float] = []
        /// The task key of the last parsed row.
        public internal(set) var taskKey: UInt64 = 0
        /// The timestamp of the last parsed row (0 without a time column).
        public internal(set) var timestamp: Int64 = 0
        /// UTF-8 bytes of a by-name row (``FeatureEncoder/encode(row:into:scratch:)``).
        var rowBytes: [UInt8] = []

        public init() {}
    }
}
