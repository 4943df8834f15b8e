import ModelMath

/// Everything a MetaRec model needs to know before it sees data: which CSV columns are the
/// task key, the time, the features and the labels, the network sizes, the MAML settings, the
/// optimisers, and the parameter-server and serving limits.
///
/// A config is one YAML file (snake_case keys; see `Sources/Models/Config/README.md` for the
/// reference table). Every field except `task_key`, `features` and `labels` has a documented
/// default; an unknown key, a wrong type or an out-of-range value is a ``ConfigError`` naming
/// the key path, e.g. `model.experts: expected an integer, got "four"`.
///
/// ```swift
/// let config = try ModelConfig.load(yamlFile: "movielens.yaml")
/// try config.yamlString().write(toFile: "MODEL/config.yaml", atomically: true, encoding: .utf8)
/// ```
///
/// The YAML form is canonical: ``yamlString()`` round-trips through ``parse(yaml:source:)``
/// and is what the model directory stores. The `Codable` conformance (synthesised, Swift
/// property names) exists for embedding a config in JSON manifests and reports.
public struct ModelConfig: Sendable, Equatable, Codable {
    /// The column whose value names the MAML task (a user, a crowd, a scene, an item).
    /// It may also be listed as a feature. Required. YAML `task_key`.
    public var taskKey: String
    /// The time column (integer or decimal seconds), used to split a task's rows into support
    /// (earlier) and query (later). `nil`: no time column, rows are split by a seeded shuffle.
    /// YAML `time`, default none.
    public var time: String?
    /// The column naming the row's scene (a recommendation entrance: a page, a product, an age
    /// group), for cross-domain ranking (`docs/DESIGN.md` §Planned, "Cross-domain ranking").
    /// It must be a `categorical` feature, so a plain MMoE sees the scene as an input; `metarec
    /// eval` reports metrics per scene. `nil`: one scene. YAML `scene`, default none.
    public var scene: String? = nil
    /// Input features, in config order (≥ 1). YAML `features`.
    public var features: [Feature]
    /// Labels, one MMoE task each, in config order (≥ 1). YAML `labels`.
    public var labels: [Label]
    /// Network shape. YAML `model`.
    public var model: Network
    /// MAML on the towers. YAML `meta`.
    public var meta: Meta
    /// Optimisers and the training loop. YAML `training`.
    public var training: Training
    /// Embedding-table admission and expiry. YAML `embeddings`.
    public var embeddings: Embeddings
    /// The serving-time support store. YAML `support_store`.
    public var supportStore: SupportStore
    /// Per-request fine-tuning and request limits. YAML `serving`.
    public var serving: Serving
    /// Size guards checked at validation (parameter count, estimated memory). YAML `limits`.
    public var limits: Limits

    /// A config with every section at its default.
    ///
    /// The result is not validated; call ``validate(source:)`` (``parse(yaml:source:)`` does).
    public init(
        taskKey: String, time: String? = nil, features: [Feature], labels: [Label],
        model: Network = .init(), meta: Meta = .init(), training: Training = .init(),
        embeddings: Embeddings = .init(), supportStore: SupportStore = .init(), serving: Serving = .init(),
        limits: Limits = .init()
    ) {
        self.taskKey = taskKey
        self.time = time
        self.features = features
        self.labels = labels
        self.model = model
        self.meta = meta
        self.training = training
        self.embeddings = embeddings
        self.supportStore = supportStore
        self.serving = serving
        self.limits = limits
    }
}
