import ModelMath

extension ModelConfig {
    /// One input feature: a CSV column and how it is encoded.
    public struct Feature: Sendable, Equatable, Codable {
        /// The column name (unique among features). YAML `name`.
        public var name: String
        /// How the column is encoded. YAML `kind` plus the kind's own keys.
        public var kind: FeatureKind
        /// Scene-private embeddings (cross-domain ranking, `docs/DESIGN.md` §7): a value's key
        /// also depends on the row's scene, ``FeatureKey/scoped(_:scene:)``, so each scene
        /// learns its own embedding row for it. Categorical and multi-categorical features of a
        /// config with a `scene` column, not the scene column itself. YAML `scene_private`,
        /// default `false` (one row per value, shared by every scene).
        public var scenePrivate: Bool

        public init(name: String, kind: FeatureKind, scenePrivate: Bool = false) {
            self.name = name
            self.kind = kind
            self.scenePrivate = scenePrivate
        }

        private enum CodingKeys: String, CodingKey { case name, kind, scenePrivate }

        /// Decodes a feature; `scenePrivate` is optional (encodings written before it existed).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(name: try c.decode(String.self, forKey: .name), kind: try c.decode(FeatureKind.self, forKey: .kind),
                      scenePrivate: try c.decodeIfPresent(Bool.self, forKey: .scenePrivate) ?? false)
        }
    }

    /// How a feature column becomes model input.
    public enum FeatureKind: Sendable, Equatable, Codable {
        /// One value per row, hashed to a 64-bit key with an embedding row. YAML `categorical`.
        case categorical
        /// A list of values joined by `separator` (default `"|"`); each value is hashed and the
        /// embeddings pooled. YAML `multi_categorical` with `separator`, `pooling`.
        case multiCategorical(separator: String, pooling: Pooling)
        /// A number, normalised before use. YAML `numeric` with `normalization`.
        case numeric(normalization: Normalization)

        /// The YAML spelling of the kind.
        public var yamlName: String {
            switch self {
            case .categorical: "categorical"
            case .multiCategorical: "multi_categorical"
            case .numeric: "numeric"
            }
        }
    }

    /// How the embeddings of a multi-categorical feature are combined into one vector.
    public enum Pooling: String, Sendable, Equatable, Codable, CaseIterable {
        /// Σ of the value embeddings.
        case sum
        /// Σ / count (a row with no values pools to zeros). The default.
        case mean
    }

    /// How a numeric feature is normalised.
    public enum Normalization: String, Sendable, Equatable, Codable, CaseIterable {
        /// `(x − mean) / max(std, 1e-6)`, with mean and std fitted on the training data. The default.
        case standard
        /// `sign(x) · log1p(|x|)` (heavy-tailed counts).
        case log1p
        /// `x` unchanged.
        case none
    }

    /// One label column; each label is one MMoE task with its own tower.
    public struct Label: Sendable, Equatable, Codable {
        /// The column name (unique, and not a feature, the task key or the time). YAML `name`.
        public var name: String
        /// Loss and output activation. YAML `kind`.
        public var kind: LabelKind
        /// `w_k` in `L_base = Σ_k w_k · loss_k` (≥ 0, finite). YAML `weight`, default 1.0.
        public var weight: Double

        public init(name: String, kind: LabelKind, weight: Double = 1.0) {
            self.name = name
            self.kind = kind
            self.weight = weight
        }
    }

    /// Loss and output activation of a task.
    public enum LabelKind: String, Sendable, Equatable, Codable, CaseIterable {
        /// Values 0/1; sigmoid output, binary cross-entropy loss.
        case binary
        /// Any finite number; identity output, mean squared error loss.
        case regression
    }
}
