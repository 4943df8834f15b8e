/// The model config a dataset command writes next to its CSV files (`config.yaml`), in the
/// schema of the shared model config (snake_case keys; see ``yaml``).
///
/// Only what the dataset determines varies between datasets (task key, time column, features,
/// labels); model, meta-learning and training sections are sensible starting values that a
/// user is expected to edit.
public struct DatasetConfig: Sendable, Equatable {
    /// How a feature column is encoded.
    public enum FeatureKind: Sendable, Equatable {
        /// One embedding per distinct value.
        case categorical
        /// A list of values split on `separator`, embeddings pooled.
        case multiCategorical(separator: String, pooling: Pooling)
        /// A number, normalised before entering the network.
        case numeric(Normalization)
    }

    /// Pooling of a multi-categorical feature's embeddings.
    public enum Pooling: String, Sendable, Equatable { case mean, sum }

    /// Normalisation of a numeric feature: `standard` = (x − μ)/σ, `log1p` = log(1 + x), or none.
    public enum Normalization: String, Sendable, Equatable { case standard, log1p, none }

    /// A label's loss: binary (sigmoid + BCE) or regression (identity + MSE).
    public enum LabelKind: String, Sendable, Equatable, CaseIterable { case binary, regression }

    /// One input column.
    public struct Feature: Sendable, Equatable {
        public var name: String
        public var kind: FeatureKind
        public init(_ name: String, _ kind: FeatureKind) { self.name = name; self.kind = kind }
    }

    /// One label column (one MMoE task), weighted `weight` in the base loss.
    public struct Label: Sendable, Equatable {
        public var name: String
        public var kind: LabelKind
        public var weight: Double
        public init(_ name: String, _ kind: LabelKind, weight: Double = 1) {
            self.name = name; self.kind = kind; self.weight = weight
        }
    }

    /// Column whose value is the MAML task (user, crowd, scene).
    public var taskKey: String
    /// Time column (Unix seconds), used for support/query splitting; `nil` when absent.
    public var time: String?
    /// Scene column (cross-domain ranking; a categorical feature); `nil` when absent.
    public var scene: String? = nil
    public var features: [Feature]
    public var labels: [Label]
    /// Number of experts `E`.
    public var experts = 4
    public var embeddingDimension = 16
    public var expertLayers = [64, 32]
    public var towerLayers = [32]
    public var batchSize = 512
    public var epochs = 5
    public var seed: UInt64 = 1

    public init(taskKey: String, time: String?, features: [Feature], labels: [Label]) {
        self.taskKey = taskKey
        self.time = time
        self.features = features
        self.labels = labels
    }

    /// The config as YAML text (flow maps, one feature or label per line).
    public var yaml: String {
        var lines = ["# Written by `metarec datasets`; edit freely (omitted fields take defaults)."]
        lines.append("task_key: \(taskKey)")
        if let time { lines.append("time: \(time)") }
        if let scene { lines.append("scene: \(scene)") }
        lines.append("features:")
        for feature in features {
            let kind: String = switch feature.kind {
            case .categorical: "kind: categorical"
            case .multiCategorical(let separator, let pooling):
                "kind: multi_categorical, separator: \(DatasetConfig.quoted(separator)), pooling: \(pooling.rawValue)"
            case .numeric(let normalization): "kind: numeric, normalization: \(normalization.rawValue)"
            }
            lines.append("  - {name: \(feature.name), \(kind)}")
        }
        lines.append("labels:")
        for label in labels {
            lines.append("  - {name: \(label.name), kind: \(label.kind.rawValue), weight: \(label.weight)}")
        }
        lines += [
            "model:",
            "  architecture: mmoe",
            "  embedding_dim: \(embeddingDimension)",
            "  experts: \(experts)",
            "  expert_layers: \(expertLayers)",
            "  tower_layers: \(towerLayers)",
            "  shared_bottom_layers: \(expertLayers)",
            "meta: {enabled: true, order: first, inner_steps: 1, inner_learning_rate: 0.05, meta_weight: 1.0, min_task_rows: 4, support_fraction: 0.5}",
            "training:",
            "  optimizer: {kind: adam, learning_rate: 0.001}",
            "  embedding_optimizer: {kind: adagrad, learning_rate: 0.05}",
            "  batch_size: \(batchSize)",
            "  epochs: \(epochs)",
            "  seed: \(seed)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for ch in text.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
