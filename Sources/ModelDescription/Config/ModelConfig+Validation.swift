import ModelMath

extension ModelConfig {
    /// Checks every rule of the schema (``parse(yaml:source:)`` calls this; call it yourself on a
    /// config built in code).
    ///
    /// Rules: at least one feature and one label; names non-empty and unique across features
    /// and labels; `task_key` and `time` are not labels (`task_key` may be a feature); widths,
    /// counts and learning rates > 0; `support_fraction` in (0, 1); `keep_floor ≤ capacity`;
    /// optimiser betas and momentum in [0, 1); the embedding optimiser without momentum or weight
    /// decay (not implemented for sparse rows); counts within ``Bounds``; the estimated parameter
    /// count and memory within ``limits`` (``estimatedParameterCount``, ``estimatedMemoryBytes``).
    /// Validation allocates nothing in proportion to the sizes it checks.
    ///
    /// - Throws: ``ConfigError/invalidValue(source:keyPath:line:reason:)`` naming the key path.
    public func validate(source: String = "config") throws(ConfigError) {
        try validate(source: source, lines: [:])
    }

    func validate(source: String, lines: [String: Int]) throws(ConfigError) {
        var v = Validator(source: source, lines: lines)
        try v.columns(self)
        try v.network(model)
        try v.supportEncoder(self)
        try v.sceneExperts(self)
        try v.starTowers(self)
        try v.partitionedNorm(self)
        try v.meta(meta)
        try v.training(training)
        try v.positive(embeddings.admissionCount, "embeddings.admission_count")
        try v.expiry(embeddings.expiry, "embeddings.ttl_seconds")
        try v.positive(supportStore.capacity, "support_store.capacity")
        try v.expiry(supportStore.expiry, "support_store.ttl_seconds")
        try v.check(supportStore.keepFloor >= 0 && supportStore.keepFloor <= supportStore.capacity,
                    "support_store.keep_floor", "must be in 0...capacity (\(supportStore.capacity)), got \(supportStore.keepFloor)")
        try v.check(supportStore.maxTasks >= 1 && supportStore.maxTasks <= 1_000_000_000, "support_store.max_tasks",
                    "must be in 1...1000000000 (tasks, i.e. users), got \(supportStore.maxTasks)")
        try v.check(supportStore.maxBytes >= 1 << 20 && supportStore.maxBytes <= 1 << 40, "support_store.max_bytes",
                    "must be in 1048576...1099511627776 (1 MiB to 1 TiB), got \(supportStore.maxBytes)")
        try v.check(serving.innerSteps >= (meta.headSolver == .ridge ? 0 : 1), "serving.inner_steps",
                    "must be ≥ 1 (≥ 0 with meta.head_solver: ridge), got \(serving.innerSteps)")
        try v.positive(serving.innerLearningRate, "serving.inner_learning_rate")
        try v.check(serving.finetuneMinSupportRows >= 1 && serving.finetuneMinSupportRows <= supportStore.capacity,
                    "serving.finetune_min_support_rows",
                    "must be in 1...support_store.capacity (\(supportStore.capacity)), got \(serving.finetuneMinSupportRows)")
        try v.positive(serving.maxCandidates, "serving.max_candidates")
        try v.nonNegative(serving.fallbackLabelMargin, "serving.fallback_label_margin")
        try v.positive(serving.fallbackMaxWeightChange, "serving.fallback_max_weight_change")
        try v.positive(serving.maxBodyBytes, "serving.max_body_bytes")
        try v.positive(serving.batchMaxRequests, "serving.batch_max_requests")
        try v.check(serving.batchMaxWaitMicroseconds >= 0, "serving.batch_max_wait_microseconds",
                    "must be ≥ 0, got \(serving.batchMaxWaitMicroseconds)")
        try v.bounds(self)
        try v.size(self)
    }
}

/// The rule checks, each throwing with the key path and (when parsed from YAML) its line.
private struct Validator {
    let source: String
    let lines: [String: Int]

    func check(_ ok: Bool, _ path: String, _ reason: @autoclosure () -> String) throws(ConfigError) {
        guard !ok else { return }
        // Fall back to the nearest enclosing node with a known line (a missing list, an absent key).
        var p = Substring(path)
        var line = lines[path]
        while line == nil, let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) {
            p = p[..<cut]
            line = lines[String(p)]
        }
        throw .invalidValue(source: source, keyPath: path, line: line, reason: reason())
    }

    func positive(_ x: Int, _ path: String) throws(ConfigError) {
        try check(x > 0, path, "must be > 0, got \(x)")
    }

    func positive(_ x: Double, _ path: String) throws(ConfigError) {
        try check(x > 0 && x.isFinite, path, "must be > 0, got \(x)")
    }

    func nonNegative(_ x: Double, _ path: String) throws(ConfigError) {
        try check(x >= 0 && x.isFinite, path, "must be ≥ 0, got \(x)")
    }

    func unitInterval(_ x: Double, _ path: String) throws(ConfigError) {
        try check(x >= 0 && x < 1, path, "must be in [0, 1), got \(x)")
    }

    func widths(_ layers: [Int], _ path: String, nonEmpty: Bool) throws(ConfigError) {
        try check(!nonEmpty || !layers.isEmpty, path, "must list at least one width")
        for (i, w) in layers.enumerated() { try positive(w, "\(path)[\(i)]") }
    }

    func expiry(_ e: ModelConfig.Expiry, _ path: String) throws(ConfigError) {
        if case .after(let seconds) = e {
            try positive(seconds, path)
            try atMost(seconds, ModelConfig.Bounds.ttlSeconds, path)
        }
    }

    func atMost(_ x: Int, _ bound: Int, _ path: String) throws(ConfigError) {
        try check(x <= bound, path, "must be ≤ \(bound), got \(x)")
    }

    /// The fixed ``ModelConfig/Bounds`` (after the sign checks, so only the upper ends remain).
    func bounds(_ c: ModelConfig) throws(ConfigError) {
        typealias B = ModelConfig.Bounds
        try atMost(c.model.embeddingDimension, B.embeddingDimension, "model.embedding_dim")
        try atMost(c.meta.innerSteps, B.innerSteps, "meta.inner_steps")
        try atMost(c.serving.innerSteps, B.innerSteps, "serving.inner_steps")
        try atMost(c.training.epochs, B.epochs, "training.epochs")
        try atMost(c.training.batchSize, B.batchSize, "training.batch_size")
        try atMost(c.training.threads, B.threads, "training.threads")
        if case .buffer(let rows) = c.training.shuffle { try atMost(rows, B.shuffleBufferRows, "training.shuffle_buffer") }
        try atMost(c.embeddings.admissionCount, B.admissionCount, "embeddings.admission_count")
        try atMost(c.supportStore.capacity, B.supportCapacity, "support_store.capacity")
        try atMost(c.supportStore.maxTasks, B.maxTasks, "support_store.max_tasks")
        try atMost(c.serving.maxCandidates, B.maxCandidates, "serving.max_candidates")
        try atMost(c.serving.maxBodyBytes, B.maxBodyBytes, "serving.max_body_bytes")
        try atMost(c.serving.batchMaxRequests, B.batchMaxRequests, "serving.batch_max_requests")
        try atMost(c.serving.batchMaxWaitMicroseconds, B.batchMaxWaitMicroseconds, "serving.batch_max_wait_microseconds")
        // A support row is K · H floats; in Double, since H is not bounded by itself.
        let width = c.model.architecture == .mmoe ? "model.expert_layers" : "model.shared_bottom_layers"
        let rowFloats = Double(c.taskCount) * Double(c.expertOutputWidth)
        try check(rowFloats <= Double(B.supportRowFloats), width,
                  "a support row of K · H = \(c.taskCount) · \(c.expertOutputWidth) floats exceeds \(B.supportRowFloats)")
        try check(rowFloats * Double(c.supportStore.capacity) <= Double(B.supportTaskFloats), "support_store.capacity",
                  "K · H · capacity = \(c.taskCount) · \(c.expertOutputWidth) · \(c.supportStore.capacity) floats a task exceeds \(B.supportTaskFloats)")
    }

    /// The estimated size against ``ModelConfig/limits``, naming the sizes that dominate.
    func size(_ c: ModelConfig) throws(ConfigError) {
        try positive(c.limits.maxParameters, "limits.max_parameters")
        try positive(c.limits.maxMemoryBytes, "limits.max_memory_bytes")
        let p = c.estimatedParameterCount
        try check(p <= Double(c.limits.maxParameters), "model",
                  "the network has ≈ \(Self.compact(p)) dense parameters (embedding_dim \(c.model.embeddingDimension), "
                  + "experts \(c.expertCount), expert_layers \(c.model.expertLayers), tower_layers \(c.model.towerLayers)"
                  + (c.model.starTowers.map { ", STAR factors of \($0.scenes.count) scenes" } ?? "")
                  + (c.model.sceneExperts.flatMap { $0.gates == .perScene ? ", a gate per task and each of \($0.scenes.count) scenes" : nil } ?? "")
                  + (c.model.partitionedNorm.map { ", partitioned norm of \($0.scenes.count) scenes" } ?? "") + "), "
                  + "over limits.max_parameters = \(c.limits.maxParameters); raise limits.max_parameters to allow it")
        let bytes = c.estimatedMemoryBytes
        try check(bytes <= Double(c.limits.maxMemoryBytes), "limits.max_memory_bytes",
                  "the config needs ≈ \(Self.compact(bytes)) bytes (≈ \(Self.compact(p)) parameters × (5 + training.threads), "
                  + "training.batch_size \(c.training.batchSize), training.shuffle_buffer, serving.max_candidates × batch_max_requests), "
                  + "over limits.max_memory_bytes = \(c.limits.maxMemoryBytes); shrink them or raise the limit")
    }

    /// `x` with three significant digits and an exponent when large (`1.23e+12`).
    static func compact(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        if x < 1e6 { return String(Int(x)) }
        var mantissa = x, exponent = 0
        while mantissa >= 10 { mantissa /= 10; exponent += 1 }
        return "\((mantissa * 100).rounded() / 100)e\(exponent)"
    }

    mutating func columns(_ c: ModelConfig) throws(ConfigError) {
        try check(!c.taskKey.isEmpty, "task_key", "must not be empty")
        try check(!c.features.isEmpty, "features", "must list at least one feature")
        try check(!c.labels.isEmpty, "labels", "must list at least one label")
        var seen: [String: String] = [:]  // column name → key path of its first use
        for (i, f) in c.features.enumerated() {
            let path = "features[\(i)].name"
            try check(!f.name.isEmpty, path, "must not be empty")
            if let first = seen[f.name] { try check(false, path, "duplicate name \"\(f.name)\" (also \(first))") }
            seen[f.name] = path
            if case .multiCategorical(let separator, _) = f.kind {
                try check(!separator.isEmpty, "features[\(i)].separator", "must not be empty")
            }
        }
        for (i, l) in c.labels.enumerated() {
            let path = "labels[\(i)].name"
            try check(!l.name.isEmpty, path, "must not be empty")
            if let first = seen[l.name] { try check(false, path, "duplicate name \"\(l.name)\" (also \(first))") }
            seen[l.name] = path
            try nonNegative(l.weight, "labels[\(i)].weight")
        }
        let labelNames = Set(c.labels.map(\.name))
        try check(!labelNames.contains(c.taskKey), "task_key", "\"\(c.taskKey)\" is also a label")
        if let time = c.time {
            try check(!time.isEmpty, "time", "must not be empty")
            try check(!labelNames.contains(time), "time", "\"\(time)\" is also a label")
            try check(time != c.taskKey, "time", "must differ from task_key")
        }
        if let scene = c.scene {
            try check(c.categoricalFeatures.contains { $0.name == scene }, "scene",
                      "\"\(scene)\" must be a feature of kind categorical")
        }
        for (i, f) in c.features.enumerated() where f.sceneEmbedding != .shared {
            let path = "features[\(i)].scene_embedding"
            try check(c.scene != nil, path, "\"\(f.name)\" has scene-private rows, but there is no top-level scene column")
            try check(f.name != c.scene, path, "\"\(f.name)\" is the scene column itself; its rows are already one per scene")
        }
    }

    func network(_ n: ModelConfig.Network) throws(ConfigError) {
        try positive(n.embeddingDimension, "model.embedding_dim")
        try positive(n.experts, "model.experts")
        try widths(n.expertLayers, "model.expert_layers", nonEmpty: n.architecture == .mmoe)
        try widths(n.towerLayers, "model.tower_layers", nonEmpty: false)
        try widths(n.sharedBottomLayers, "model.shared_bottom_layers", nonEmpty: n.architecture == .sharedBottom)
    }

    /// `model.scene_experts`: MMoE, a `scene` column, 1 … 64 distinct scenes, ≥ 1 expert each.
    func sceneExperts(_ c: ModelConfig) throws(ConfigError) {
        guard let s = c.model.sceneExperts else { return }
        let path = "model.scene_experts"
        try check(c.model.architecture == .mmoe, path, "needs architecture mmoe (the gates mix shared and scene experts)")
        try check(c.scene != nil, path, "needs a top-level scene column (the categorical feature naming each row's scene)")
        try check((1...64).contains(s.scenes.count), "\(path).scenes", "must list 1 … 64 scene values, got \(s.scenes.count)")
        try check(Set(s.scenes).count == s.scenes.count, "\(path).scenes", "lists a scene twice: \(s.scenes)")
        try check((1...64).contains(s.perScene), "\(path).per_scene", "must be in 1 … 64, got \(s.perScene)")
    }

    /// `model.star_towers`: a `scene` column, 1 … 64 distinct scenes.
    func starTowers(_ c: ModelConfig) throws(ConfigError) {
        guard let s = c.model.starTowers else { return }
        let path = "model.star_towers"
        try check(c.scene != nil, path, "needs a top-level scene column (the categorical feature naming each row's scene)")
        try check((1...64).contains(s.scenes.count), "\(path).scenes", "must list 1 … 64 scene values, got \(s.scenes.count)")
        try check(Set(s.scenes).count == s.scenes.count, "\(path).scenes", "lists a scene twice: \(s.scenes)")
    }

    /// `model.partitioned_norm`: a `scene` column, 1 … 64 distinct scenes, momentum in [0, 1), epsilon > 0, min_batch_rows ≥ 2.
    func partitionedNorm(_ c: ModelConfig) throws(ConfigError) {
        guard let s = c.model.partitionedNorm else { return }
        let path = "model.partitioned_norm"
        try check(c.scene != nil, path, "needs a top-level scene column (the categorical feature naming each row's scene)")
        try check((1...64).contains(s.scenes.count), "\(path).scenes", "must list 1 … 64 scene values, got \(s.scenes.count)")
        try check(Set(s.scenes).count == s.scenes.count, "\(path).scenes", "lists a scene twice: \(s.scenes)")
        try check(s.momentum >= 0 && s.momentum < 1, "\(path).momentum", "must be in [0, 1), got \(s.momentum)")
        try check(s.epsilon > 0 && s.epsilon.isFinite, "\(path).epsilon", "must be > 0, got \(s.epsilon)")
        try check((2...1_000_000).contains(s.minimumBatchRows), "\(path).min_batch_rows", "must be in 2 … 1000000, got \(s.minimumBatchRows)")
    }

    /// `model.support_encoder`: a categorical source, a label when `label_weighted`, pools without repeats.
    func supportEncoder(_ c: ModelConfig) throws(ConfigError) {
        guard let e = c.model.supportEncoder else { return }
        let path = "model.support_encoder"
        try check(c.categoricalFeatures.contains { $0.name == e.source }, "\(path).source",
                  "must name a categorical feature (\(c.categoricalFeatures.map(\.name).joined(separator: ", "))), got \"\(e.source)\"")
        try check(!e.pooling.isEmpty, "\(path).pooling", "must list at least one of mean | label_weighted")
        try check(Set(e.pooling).count == e.pooling.count, "\(path).pooling", "lists a pooling twice: \(e.pooling.map(\.rawValue))")
        if let label = e.label {
            try check(c.labels.contains { $0.name == label }, "\(path).label",
                      "must name a label (\(c.labels.map(\.name).joined(separator: ", "))), got \"\(label)\"")
        }
        try check(e.label != nil || !e.pooling.contains(.labelWeighted), "\(path).label",
                  "is required by pooling label_weighted")
    }

    func meta(_ m: ModelConfig.Meta) throws(ConfigError) {
        try check(m.innerSteps >= (m.headSolver == .ridge ? 0 : 1), "meta.inner_steps",
                  "must be ≥ 1 (≥ 0 with head_solver: ridge, which adapts in closed form), got \(m.innerSteps)")
        try positive(m.innerLearningRate, "meta.inner_learning_rate")
        try nonNegative(m.metaWeight, "meta.meta_weight")
        try check(m.minTaskRows >= 2, "meta.min_task_rows", "must be ≥ 2 (one support and one query row), got \(m.minTaskRows)")
        try check(m.supportFraction > 0 && m.supportFraction < 1, "meta.support_fraction",
                  "must be in (0, 1), got \(m.supportFraction)")
        try check(m.taskChunkRows >= 0, "meta.task_chunk_rows", "must be ≥ 0 (0 = whole tasks), got \(m.taskChunkRows)")
        try positive(m.innerRatesLearningRate, "meta.inner_rates_learning_rate")
        try check(m.enabled || !m.learnInnerRates, "meta.learn_inner_rates",
                  "learned inner rates need meta-learning: set meta.enabled: true or learn_inner_rates: false")
        try nonNegative(m.innerPointwiseWeight, "meta.inner_pointwise_weight")
        try positive(m.headL2, "meta.head_l2")
        try check(m.order == .first || m.headSolver == .gradient, "meta.head_solver",
                  "a closed-form head (ridge, offset) needs meta.order: first (a ridge head alone on a regression tower is differentiated exactly in first order already; after SGD steps or on a binary tower it is held constant): set meta.order: first or head_solver: gradient")
    }

    func training(_ t: ModelConfig.Training) throws(ConfigError) {
        try optimizer(t.optimizer, "training.optimizer")
        try optimizer(t.embeddingOptimizer, "training.embedding_optimizer")
        try rowOptimizer(t.embeddingOptimizer, "training.embedding_optimizer")
        try positive(t.batchSize, "training.batch_size")
        try positive(t.epochs, "training.epochs")
        if case .buffer(let rows) = t.shuffle { try positive(rows, "training.shuffle_buffer") }
        try positive(t.threads, "training.threads")
        if case .patience(let epochs) = t.earlyStopping { try positive(epochs, "training.early_stopping_patience") }
        try check(t.maxBadRows >= 0, "training.max_bad_rows", "must be ≥ 0, got \(t.maxBadRows)")
    }

    /// The embedding rows' optimiser (the parameter server's `RowOptimizer`) has no momentum and
    /// no weight decay: a setting it would silently ignore is refused instead.
    func rowOptimizer(_ o: ModelConfig.Optimizer, _ path: String) throws(ConfigError) {
        let unsupported = "is not implemented for embedding rows (sparse updates); remove it or set it to 0"
        switch o {
        case .adam(let a):
            try check(a.weightDecay == 0, "\(path).weight_decay", "\(unsupported), got \(a.weightDecay)")
        case .adagrad:
            break
        case .sgd(let s):
            try check(s.momentum == 0, "\(path).momentum", "\(unsupported), got \(s.momentum)")
            try check(s.weightDecay == 0, "\(path).weight_decay", "\(unsupported), got \(s.weightDecay)")
        }
    }

    func optimizer(_ o: ModelConfig.Optimizer, _ path: String) throws(ConfigError) {
        try positive(o.learningRate, "\(path).learning_rate")
        switch o {
        case .adam(let a):
            try unitInterval(a.beta1, "\(path).beta1")
            try unitInterval(a.beta2, "\(path).beta2")
            try positive(a.epsilon, "\(path).epsilon")
            try nonNegative(a.weightDecay, "\(path).weight_decay")
        case .adagrad(let a):
            try nonNegative(a.initialAccumulator, "\(path).initial_accumulator")
            try positive(a.epsilon, "\(path).epsilon")
        case .sgd(let s):
            try unitInterval(s.momentum, "\(path).momentum")
            try nonNegative(s.weightDecay, "\(path).weight_decay")
        }
    }
}
