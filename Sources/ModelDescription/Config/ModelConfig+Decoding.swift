import ModelMath
import Foundation
import ParamServer
import Yams

extension ModelConfig {
    /// Reads and validates a config file.
    ///
    /// - Throws: ``ConfigError`` naming `path` and the key path of the first problem.
    public static func load(yamlFile path: String) throws(ConfigError) -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(source: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .syntax(source: path, line: nil, column: nil, reason: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, source: path)
    }

    /// Parses and validates a config from YAML text.
    ///
    /// - Parameters:
    ///   - yaml: the document (one YAML document; a mapping at the top).
    ///   - source: the name used in error messages (normally the file path).
    /// - Throws: ``ConfigError``: YAML syntax, an unknown key (with a "did you mean" suggestion),
    ///   a wrong type, a missing required key, or a validation rule, each naming the key path.
    public static func parse(yaml: String, source: String) throws(ConfigError) -> ModelConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let error as YamlError {
            throw syntaxError(error, source: source)
        } catch {
            throw .syntax(source: source, line: nil, column: nil, reason: "\(error)")
        }
        guard let root else { throw .missingKey(source: source, keyPath: "task_key", line: nil) }
        let config = try decode(ConfigNode(node: root, path: "", source: source))
        var lines: [String: Int] = [:]
        collectLines(root, path: "", into: &lines)
        try config.validate(source: source, lines: lines)
        return config
    }

    private static func syntaxError(_ error: YamlError, source: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return .syntax(source: source, line: mark.line, column: mark.column, reason: problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .syntax(source: source, line: context.mark.line, column: context.mark.column,
                           reason: "duplicate key \(duplicates.joined(separator: ", "))")
        default:
            let text = "\(error)".split(separator: "\n").first.map(String.init) ?? "invalid YAML"
            return .syntax(source: source, line: nil, column: nil, reason: text)
        }
    }

    /// Records the line of every node by key path, for line numbers in validation errors.
    private static func collectLines(_ node: Node, path: String, into lines: inout [String: Int]) {
        if let line = node.mark?.line, !path.isEmpty { lines[path] = line }
        switch node {
        case .mapping(let m):
            for (k, v) in m {
                guard let key = k.scalar?.string else { continue }
                collectLines(v, path: path.isEmpty ? key : "\(path).\(key)", into: &lines)
            }
        case .sequence(let s):
            for (i, v) in s.enumerated() { collectLines(v, path: "\(path)[\(i)]", into: &lines) }
        default: break
        }
    }

    // MARK: Sections

    static let topKeys = ["task_key", "time", "scene", "features", "labels", "model", "meta", "training",
                          "embeddings", "support_store", "serving", "limits"]

    private static func decode(_ root: ConfigNode) throws(ConfigError) -> ModelConfig {
        let m = try root.mapping(allowed: topKeys)
        var features: [Feature] = []
        let featureList = try m.required("features")
        for item in try featureList.list() { features.append(try decodeFeature(item)) }
        var labels: [Label] = []
        for item in try m.required("labels").list() { labels.append(try decodeLabel(item)) }
        var config = ModelConfig(
            taskKey: try m.required("task_key").string(), time: try m["time"]?.string(),
            features: features, labels: labels)
        config.scene = try m["scene"]?.string()
        if let n = m["model"] { config.model = try decodeNetwork(n) }
        if let n = m["meta"] { config.meta = try decodeMeta(n) }
        if let n = m["training"] { config.training = try decodeTraining(n) }
        if let n = m["embeddings"] { config.embeddings = try decodeEmbeddings(n) }
        if let n = m["support_store"] { config.supportStore = try decodeSupportStore(n) }
        if let n = m["serving"] { config.serving = try decodeServing(n) }
        if let n = m["limits"] { config.limits = try decodeLimits(n) }
        return config
    }

    private static func decodeFeature(_ node: ConfigNode) throws(ConfigError) -> Feature {
        let m = try node.mapping(allowed: ["name", "kind", "separator", "pooling", "normalization", "scene_embedding"])
        let name = try m.required("name").string()
        let sceneEmbedding = try m.choice("scene_embedding", default: SceneEmbedding.shared)
        let kindNode = try m.required("kind")
        let kindName = try kindNode.string()
        // Keys that belong to another kind are reported as unknown for this one.
        func reject(_ keys: [String]) throws(ConfigError) {
            for key in keys where m[key] != nil {
                throw ConfigError.invalidValue(
                    source: node.source, keyPath: "\(node.path).\(key)", line: m[key]?.line,
                    reason: "not a setting of kind \(kindName)")
            }
        }
        switch kindName {
        case "categorical":
            try reject(["separator", "pooling", "normalization"])
            return Feature(name: name, kind: .categorical, sceneEmbedding: sceneEmbedding)
        case "multi_categorical":
            try reject(["normalization"])
            return Feature(name: name, kind: .multiCategorical(
                separator: try m.string("separator", default: "|"),
                pooling: try m.choice("pooling", default: Pooling.mean)), sceneEmbedding: sceneEmbedding)
        case "numeric":
            try reject(["separator", "pooling", "scene_embedding"])
            return Feature(name: name, kind: .numeric(
                normalization: try m.choice("normalization", default: Normalization.standard)))
        default:
            throw kindNode.wrongType("one of categorical | multi_categorical | numeric")
        }
    }

    private static func decodeLabel(_ node: ConfigNode) throws(ConfigError) -> Label {
        let m = try node.mapping(allowed: ["name", "kind", "weight"])
        return Label(name: try m.required("name").string(),
                     kind: try m.required("kind").choice(LabelKind.self),
                     weight: try m.double("weight", default: 1.0))
    }

    private static func decodeNetwork(_ node: ConfigNode) throws(ConfigError) -> Network {
        let m = try node.mapping(allowed: ["architecture", "embedding_dim", "experts", "expert_layers",
                                           "tower_layers", "shared_bottom_layers", "seed", "support_encoder",
                                           "scene_experts", "star_towers", "partitioned_norm"])
        var n = Network()
        n.architecture = try m.choice("architecture", default: n.architecture)
        n.embeddingDimension = try m.int("embedding_dim", default: n.embeddingDimension)
        n.experts = try m.int("experts", default: n.experts)
        n.expertLayers = try m.intList("expert_layers", default: n.expertLayers)
        n.towerLayers = try m.intList("tower_layers", default: n.towerLayers)
        n.sharedBottomLayers = try m.intList("shared_bottom_layers", default: n.sharedBottomLayers)
        n.seed = try decodeSeed(m, default: n.seed)
        if let node = m["support_encoder"] { n.supportEncoder = try decodeSupportEncoder(node) }
        if let node = m["scene_experts"] {
            let s = try node.mapping(allowed: ["per_scene", "scenes", "gates"])
            var scenes: [String] = []
            for item in try s.required("scenes").list() { scenes.append(try item.string()) }
            n.sceneExperts = SceneExpertsSpec(perScene: try s.int("per_scene", default: 1), scenes: scenes,
                                              gates: try s.choice("gates", default: SceneGates.shared))
        }
        if let node = m["star_towers"] { n.starTowers = try decodeStarTowers(node, sceneExperts: n.sceneExperts) }
        if let node = m["partitioned_norm"] { n.partitionedNorm = try decodePartitionedNorm(node, network: n) }
        return n
    }

    /// `partitioned_norm: {scenes, momentum, epsilon, min_batch_rows}` (every key optional), `true` (defaults) or
    /// `false` (none). Without `scenes`: STAR's scenes, else the scene experts' (an error without either).
    private static func decodePartitionedNorm(_ node: ConfigNode, network n: Network) throws(ConfigError) -> PartitionedNormSpec? {
        let inherited = n.starTowers?.scenes ?? n.sceneExperts?.scenes
        func inheritedScenes() throws(ConfigError) -> [String] {
            guard let inherited else {
                throw node.invalid("takes the scenes of model.star_towers or model.scene_experts, neither is set: "
                                   + "list them, partitioned_norm: {scenes: [a, b, c]}")
            }
            return inherited
        }
        if let on = try? node.bool() {
            guard on else { return nil }
            return PartitionedNormSpec(scenes: try inheritedScenes())
        }
        let m = try node.mapping(allowed: ["scenes", "momentum", "epsilon", "min_batch_rows"])
        var scenes: [String] = []
        if let list = m["scenes"] {
            for item in try list.list() { scenes.append(try item.string()) }
        } else {
            scenes = try inheritedScenes()
        }
        let defaults = PartitionedNormSpec(scenes: scenes)
        return PartitionedNormSpec(scenes: scenes, momentum: try m.double("momentum", default: defaults.momentum),
                                   epsilon: try m.double("epsilon", default: defaults.epsilon),
                                   minimumBatchRows: try m.int("min_batch_rows", default: defaults.minimumBatchRows))
    }

    /// `star_towers: {scenes: [...]}`, `true` (the scene experts' scenes) or `false` (none).
    private static func decodeStarTowers(_ node: ConfigNode, sceneExperts: SceneExpertsSpec?) throws(ConfigError) -> StarTowersSpec? {
        if let on = try? node.bool() {
            guard on else { return nil }
            guard let sceneExperts else {
                throw node.invalid("true takes the scenes of model.scene_experts, which is not set: list them, star_towers: {scenes: [a, b, c]}")
            }
            return StarTowersSpec(scenes: sceneExperts.scenes)
        }
        let m = try node.mapping(allowed: ["scenes"])
        var scenes: [String] = []
        for item in try m.required("scenes").list() { scenes.append(try item.string()) }
        return StarTowersSpec(scenes: scenes)
    }

    private static func decodeSupportEncoder(_ node: ConfigNode) throws(ConfigError) -> SupportEncoderSpec {
        let m = try node.mapping(allowed: ["source", "pooling", "label", "embedding", "stop_gradient"])
        var spec = SupportEncoderSpec(source: try m.required("source").string(), label: try m["label"]?.string(),
                                      embedding: try m.choice("embedding", default: .shared))
        spec.stopGradient = try m.bool("stop_gradient", default: false)
        if let p = m["pooling"] {
            if case .some = try? p.list() {
                spec.pooling = []
                for item in try p.list() { spec.pooling.append(try item.choice(SupportEncoder.Pool.self)) }
            } else {
                spec.pooling = [try p.choice(SupportEncoder.Pool.self)]
            }
        }
        return spec
    }

    private static func decodeSeed(_ m: ConfigMapping, default value: UInt64) throws(ConfigError) -> UInt64 {
        guard let node = m["seed"] else { return value }
        let v = try node.int()
        guard v >= 0 else { throw node.invalid("must be ≥ 0") }
        return UInt64(v)
    }

    private static func decodeMeta(_ node: ConfigNode) throws(ConfigError) -> Meta {
        let m = try node.mapping(allowed: ["enabled", "order", "inner_steps", "inner_learning_rate",
                                           "meta_weight", "min_task_rows", "support_fraction", "task_chunk_rows",
                                           "learn_inner_rates", "inner_rates_learning_rate", "inner_loss",
                                           "inner_pointwise_weight", "adapt_layers", "head_solver", "head_l2",
                                           "head_l2_scale"])
        var meta = Meta()
        meta.enabled = try m.bool("enabled", default: meta.enabled)
        meta.order = try m.choice("order", default: meta.order)
        meta.innerSteps = try m.int("inner_steps", default: meta.innerSteps)
        meta.innerLearningRate = try m.double("inner_learning_rate", default: meta.innerLearningRate)
        meta.metaWeight = try m.double("meta_weight", default: meta.metaWeight)
        meta.minTaskRows = try m.int("min_task_rows", default: meta.minTaskRows)
        meta.supportFraction = try m.double("support_fraction", default: meta.supportFraction)
        meta.taskChunkRows = try m.int("task_chunk_rows", default: meta.taskChunkRows)
        meta.learnInnerRates = try m.bool("learn_inner_rates", default: meta.learnInnerRates)
        meta.innerRatesLearningRate = try m.double("inner_rates_learning_rate", default: meta.innerRatesLearningRate)
        meta.innerLoss = try m.choice("inner_loss", default: meta.innerLoss)
        meta.innerPointwiseWeight = try m.double("inner_pointwise_weight", default: meta.innerPointwiseWeight)
        meta.adaptLayers = try m.choice("adapt_layers", default: meta.adaptLayers)
        meta.headSolver = try m.choice("head_solver", default: meta.headSolver)
        meta.headL2 = try m.double("head_l2", default: meta.headL2)
        meta.headL2Scale = try m.choice("head_l2_scale", default: meta.headL2Scale)
        return meta
    }

    private static func decodeTraining(_ node: ConfigNode) throws(ConfigError) -> Training {
        let m = try node.mapping(allowed: ["optimizer", "embedding_optimizer", "batch_size", "epochs", "seed",
                                           "shuffle_buffer", "threads", "early_stopping_patience", "max_bad_rows"])
        var t = Training()
        if let n = m["optimizer"] { t.optimizer = try decodeOptimizer(n) }
        if let n = m["embedding_optimizer"] { t.embeddingOptimizer = try decodeOptimizer(n) }
        t.batchSize = try m.int("batch_size", default: t.batchSize)
        t.epochs = try m.int("epochs", default: t.epochs)
        t.seed = try decodeSeed(m, default: t.seed)
        if let n = m["shuffle_buffer"] {
            let rows = try n.int()
            guard rows >= 0 else { throw n.invalid("must be ≥ 0 (0 = no shuffle)") }
            t.shuffle = rows == 0 ? .none : .buffer(rows: rows)
        }
        t.threads = try m.int("threads", default: t.threads)
        if let n = m["early_stopping_patience"] {
            let epochs = try n.int()
            guard epochs >= 0 else { throw n.invalid("must be ≥ 0 (0 = off)") }
            t.earlyStopping = epochs == 0 ? .off : .patience(epochs: epochs)
        }
        t.maxBadRows = try m.int("max_bad_rows", default: t.maxBadRows)
        return t
    }

    private static func decodeOptimizer(_ node: ConfigNode) throws(ConfigError) -> Optimizer {
        let all = ["kind", "learning_rate", "beta1", "beta2", "epsilon", "weight_decay",
                   "initial_accumulator", "momentum"]
        let m = try node.mapping(allowed: all)
        let kind = try m.required("kind").string()
        func only(_ keys: [String]) throws(ConfigError) {
            for key in all where !keys.contains(key) && key != "kind" && m[key] != nil {
                throw ConfigError.invalidValue(
                    source: node.source, keyPath: "\(node.path).\(key)", line: m[key]?.line,
                    reason: "not a setting of kind \(kind) (its settings: \(keys.joined(separator: ", ")))")
            }
        }
        switch kind {
        case "adam":
            try only(["learning_rate", "beta1", "beta2", "epsilon", "weight_decay"])
            let d = Adam()
            return .adam(Adam(
                learningRate: try m.double("learning_rate", default: d.learningRate),
                beta1: try m.double("beta1", default: d.beta1), beta2: try m.double("beta2", default: d.beta2),
                epsilon: try m.double("epsilon", default: d.epsilon),
                weightDecay: try m.double("weight_decay", default: d.weightDecay)))
        case "adagrad":
            try only(["learning_rate", "initial_accumulator", "epsilon"])
            let d = Adagrad()
            return .adagrad(Adagrad(
                learningRate: try m.double("learning_rate", default: d.learningRate),
                initialAccumulator: try m.double("initial_accumulator", default: d.initialAccumulator),
                epsilon: try m.double("epsilon", default: d.epsilon)))
        case "sgd":
            try only(["learning_rate", "momentum", "weight_decay"])
            let d = SGD()
            return .sgd(SGD(
                learningRate: try m.double("learning_rate", default: d.learningRate),
                momentum: try m.double("momentum", default: d.momentum),
                weightDecay: try m.double("weight_decay", default: d.weightDecay)))
        default:
            throw try m.required("kind").wrongType("one of adam | adagrad | sgd")
        }
    }

    private static func decodeExpiry(_ m: ConfigMapping, default value: Expiry) throws(ConfigError) -> Expiry {
        guard let n = m["ttl_seconds"] else { return value }
        let seconds = try n.int()
        guard seconds >= 0 else { throw n.invalid("must be ≥ 0 (0 = never expire)") }
        return seconds == 0 ? .never : .after(seconds: seconds)
    }

    private static func decodeEmbeddings(_ node: ConfigNode) throws(ConfigError) -> Embeddings {
        let m = try node.mapping(allowed: ["admission_count", "ttl_seconds"])
        var e = Embeddings()
        e.admissionCount = try m.int("admission_count", default: e.admissionCount)
        e.expiry = try decodeExpiry(m, default: e.expiry)
        return e
    }

    private static func decodeSupportStore(_ node: ConfigNode) throws(ConfigError) -> SupportStore {
        let m = try node.mapping(allowed: ["capacity", "ttl_seconds", "keep_floor", "max_tasks", "max_bytes"])
        var s = SupportStore()
        s.capacity = try m.int("capacity", default: s.capacity)
        s.expiry = try decodeExpiry(m, default: s.expiry)
        s.keepFloor = try m.int("keep_floor", default: s.keepFloor)
        s.maxTasks = try m.int("max_tasks", default: s.maxTasks)
        s.maxBytes = try m.int("max_bytes", default: s.maxBytes)
        return s
    }

    private static func decodeLimits(_ node: ConfigNode) throws(ConfigError) -> Limits {
        let m = try node.mapping(allowed: ["max_parameters", "max_memory_bytes"])
        var l = Limits()
        l.maxParameters = try m.int("max_parameters", default: l.maxParameters)
        l.maxMemoryBytes = try m.int("max_memory_bytes", default: l.maxMemoryBytes)
        return l
    }

    private static func decodeServing(_ node: ConfigNode) throws(ConfigError) -> Serving {
        let m = try node.mapping(allowed: ["finetune", "inner_steps", "inner_learning_rate", "finetune_min_support_rows", "max_candidates",
                                           "max_body_bytes", "batch_max_requests", "batch_max_wait_microseconds",
                                           "fallback_label_margin", "fallback_max_weight_change", "support_precision"])
        var s = Serving()
        s.finetune = try m.bool("finetune", default: s.finetune)
        s.innerSteps = try m.int("inner_steps", default: s.innerSteps)
        s.innerLearningRate = try m.double("inner_learning_rate", default: s.innerLearningRate)
        s.finetuneMinSupportRows = try m.int("finetune_min_support_rows", default: s.finetuneMinSupportRows)
        s.maxCandidates = try m.int("max_candidates", default: s.maxCandidates)
        s.maxBodyBytes = try m.int("max_body_bytes", default: s.maxBodyBytes)
        s.batchMaxRequests = try m.int("batch_max_requests", default: s.batchMaxRequests)
        s.batchMaxWaitMicroseconds = try m.int("batch_max_wait_microseconds", default: s.batchMaxWaitMicroseconds)
        s.fallbackLabelMargin = try m.double("fallback_label_margin", default: s.fallbackLabelMargin)
        s.fallbackMaxWeightChange = try m.double("fallback_max_weight_change", default: s.fallbackMaxWeightChange)
        s.supportPrecision = try m.choice("support_precision", default: s.supportPrecision)
        return s
    }
}
