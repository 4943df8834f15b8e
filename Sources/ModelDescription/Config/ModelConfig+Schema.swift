import ModelMath

extension ModelConfig {
    /// One input feature: a CSV column and how it is encoded.
    public struct Feature: Sendable, Equatable, Codable {
        /// The column name (unique among features). YAML `name`.
        public var name: String
        /// How the column is encoded. YAML `kind` plus the kind's own keys.
        public var kind: FeatureKind
        /// Whose embedding rows the feature's values read (cross-domain ranking,
        /// `docs/DESIGN.md` §Cross-domain): ``SceneEmbedding``. YAML `scene_embedding`, default
        /// `shared`.
        public var sceneEmbedding: SceneEmbedding

        public init(name: String, kind: FeatureKind, sceneEmbedding: SceneEmbedding = .shared) {
            self.name = name
            self.kind = kind
            self.sceneEmbedding = sceneEmbedding
        }

        private enum CodingKeys: String, CodingKey { case name, kind, sceneEmbedding }

        /// Decodes a feature; `sceneEmbedding` is optional (encodings written before it existed).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(name: try c.decode(String.self, forKey: .name), kind: try c.decode(FeatureKind.self, forKey: .kind),
                      sceneEmbedding: try c.decodeIfPresent(SceneEmbedding.self, forKey: .sceneEmbedding) ?? .shared)
        }
    }

    /// Shared or scene-private embedding rows for a categorical or multi-categorical feature of
    /// a config with a `scene` column (not the scene column itself). A *private* key is the
    /// value's key scoped by the row's scene key, ``FeatureKey/scoped(_:scene:)``, so each scene
    /// learns its own row for the value from its own rows only.
    public enum SceneEmbedding: String, Sendable, Equatable, Codable, CaseIterable {
        /// One row per value, for every scene (the default). YAML `shared`.
        case shared
        /// One row per value and scene: the feature's input block is the scene's row (TRS's
        /// private embeddings for scene features). YAML `private`.
        case `private`
        /// Both: the feature's block reads the shared row, and a second block, appended after
        /// every feature of its kind (``ModelConfig/categoricalFeatures``), the scene's private
        /// row, so the first layer sees `[e(v) | e_s(v)]`: a scene residual on a shared row,
        /// the embedding analogue of STAR's towers. Adds `d` to `D`. YAML `shared_and_private`.
        case sharedAndPrivate = "shared_and_private"
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
