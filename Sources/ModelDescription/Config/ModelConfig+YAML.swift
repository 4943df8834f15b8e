import ModelMath
import ParamServer

extension ModelConfig {
    /// The config as YAML, every field written out (defaults included), in schema order.
    ///
    /// `ModelConfig.parse(yaml: c.yamlString(), source: …) == c` for every valid `c`; the model
    /// directory stores this text as `config.yaml`. Numbers use Swift's shortest round-trip
    /// spelling; strings are quoted only when YAML would read them as something else.
    public func yamlString() -> String {
        var out = "# MetaRec model config (reference: Sources/Models/Config/README.md)\n"
        out += "task_key: \(Self.yamlScalar(taskKey))\n"
        for (key, value) in [("time", time), ("scene", scene)] { if let value { out += "\(key): \(Self.yamlScalar(value))\n" } }
        out += "features:\n"
        for f in features {
            var fields = ["name: \(Self.yamlScalar(f.name))", "kind: \(f.kind.yamlName)"]
            switch f.kind {
            case .categorical: break
            case .multiCategorical(let separator, let pooling):
                fields += ["separator: \(Self.yamlScalar(separator, alwaysQuote: true))", "pooling: \(pooling.rawValue)"]
            case .numeric(let normalization):
                fields.append("normalization: \(normalization.rawValue)")
            }
            if f.sceneEmbedding != .shared { fields.append("scene_embedding: \(f.sceneEmbedding.rawValue)") }
            out += "  - {\(fields.joined(separator: ", "))}\n"
        }
        out += "labels:\n"
        for l in labels {
            out += "  - {name: \(Self.yamlScalar(l.name)), kind: \(l.kind.rawValue), weight: \(l.weight)}\n"
        }
        out += """
            model:
              architecture: \(model.architecture.rawValue)
              embedding_dim: \(model.embeddingDimension)
              experts: \(model.experts)
              expert_layers: \(model.expertLayers)
              tower_layers: \(model.towerLayers)
              shared_bottom_layers: \(model.sharedBottomLayers)
              seed: \(model.seed)\(yamlSupportEncoder)\(yamlSceneExperts)\(yamlStarTowers)\(yamlPartitionedNorm)
            \(yamlMeta)
            training:
              optimizer: \(Self.yamlOptimizer(training.optimizer))
              embedding_optimizer: \(Self.yamlOptimizer(training.embeddingOptimizer))
              batch_size: \(training.batchSize)
              epochs: \(training.epochs)
              seed: \(training.seed)
              shuffle_buffer: \(training.shuffle.yamlRows)
              threads: \(training.threads)
              early_stopping_patience: \(training.earlyStopping.yamlEpochs)
              max_bad_rows: \(training.maxBadRows)
            embeddings:
              admission_count: \(embeddings.admissionCount)
              ttl_seconds: \(embeddings.expiry.yamlSeconds)
            support_store:
              capacity: \(supportStore.capacity)
              ttl_seconds: \(supportStore.expiry.yamlSeconds)
              keep_floor: \(supportStore.keepFloor)
              max_tasks: \(supportStore.maxTasks)
              max_bytes: \(supportStore.maxBytes)
            serving:
              finetune: \(serving.finetune)
              inner_steps: \(serving.innerSteps)
              inner_learning_rate: \(serving.innerLearningRate)
              finetune_min_support_rows: \(serving.finetuneMinSupportRows)
              max_candidates: \(serving.maxCandidates)
              fallback_label_margin: \(serving.fallbackLabelMargin)
              fallback_max_weight_change: \(serving.fallbackMaxWeightChange)
              max_body_bytes: \(serving.maxBodyBytes)
              batch_max_requests: \(serving.batchMaxRequests)
              batch_max_wait_microseconds: \(serving.batchMaxWaitMicroseconds)\(serving.supportPrecision == .float32 ? "" : "\n  support_precision: \(serving.supportPrecision.rawValue)")
            limits: {max_parameters: \(limits.maxParameters), max_memory_bytes: \(limits.maxMemoryBytes)}

            """
        return out
    }

    /// The `meta` section, every field written out but `head_l2_scale` at its default (so a model
    /// that does not use it loads in a binary that predates it); no trailing newline.
    private var yamlMeta: String {
        """
        meta:
          enabled: \(meta.enabled)
          order: \(meta.order.rawValue)
          inner_steps: \(meta.innerSteps)
          inner_learning_rate: \(meta.innerLearningRate)
          meta_weight: \(meta.metaWeight)
          min_task_rows: \(meta.minTaskRows)
          support_fraction: \(meta.supportFraction)
          task_chunk_rows: \(meta.taskChunkRows)
          learn_inner_rates: \(meta.learnInnerRates)
          inner_loss: \(meta.innerLoss.rawValue)
          inner_pointwise_weight: \(meta.innerPointwiseWeight)
          adapt_layers: \(meta.adaptLayers.rawValue)
          head_solver: \(meta.headSolver.rawValue)
          head_l2: \(meta.headL2)\(meta.headL2Scale == .mean ? "" : "\n  head_l2_scale: \(meta.headL2Scale.rawValue)")
          inner_rates_learning_rate: \(meta.innerRatesLearningRate)
        """
    }

    private static func yamlOptimizer(_ o: Optimizer) -> String {
        switch o {
        case .adam(let a):
            "{kind: adam, learning_rate: \(a.learningRate), beta1: \(a.beta1), beta2: \(a.beta2), epsilon: \(a.epsilon), weight_decay: \(a.weightDecay)}"
        case .adagrad(let a):
            "{kind: adagrad, learning_rate: \(a.learningRate), initial_accumulator: \(a.initialAccumulator), epsilon: \(a.epsilon)}"
        case .sgd(let s):
            "{kind: sgd, learning_rate: \(s.learningRate), momentum: \(s.momentum), weight_decay: \(s.weightDecay)}"
        }
    }

    /// `text` as a YAML scalar: plain when it is an identifier-like word YAML reads back as the
    /// same string, otherwise double-quoted with escapes.
    static func yamlScalar(_ text: String, alwaysQuote: Bool = false) -> String {
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n"]
        let plain = !alwaysQuote && !text.isEmpty && !reserved.contains(text.lowercased())
            && text.unicodeScalars.first.map { CharacterSet.identifierStart.contains($0) } == true
            && text.unicodeScalars.allSatisfy { CharacterSet.identifierBody.contains($0) }
        if plain { return text }
        var out = "\""
        for s in text.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if s.value < 0x20 || s.value == 0x7F {
                    out += "\\x" + String(s.value, radix: 16).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(s)
                }
            }
        }
        return out + "\""
    }
}

/// ASCII character classes for plain YAML scalars (no Foundation needed).
private enum CharacterSet {
    case identifierStart, identifierBody

    func contains(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        let letter = (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        switch self {
        case .identifierStart: return letter
        case .identifierBody: return letter || (v >= 0x30 && v <= 0x39) || v == 0x2D || v == 0x2E
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension ModelConfig.Shuffle {
    fileprivate var yamlRows: Int {
        switch self {
        case .none: 0
        case .buffer(let rows): rows
        }
    }
}

extension ModelConfig.EarlyStopping {
    fileprivate var yamlEpochs: Int {
        switch self {
        case .off: 0
        case .patience(let epochs): epochs
        }
    }
}

extension ModelConfig.Expiry {
    fileprivate var yamlSeconds: Int {
        switch self {
        case .never: 0
        case .after(let seconds): seconds
        }
    }
}

extension ModelConfig {
    /// `model.scene_experts` as one flow mapping line (empty when off).
    private var yamlSceneExperts: String {
        guard let s = model.sceneExperts else { return "" }
        let gates = s.gates == .shared ? "" : ", gates: \(s.gates.rawValue)"
        return "\n  scene_experts: {per_scene: \(s.perScene), scenes: [\(s.scenes.map { Self.yamlScalar($0) }.joined(separator: ", "))]\(gates)}"
    }

    /// `model.star_towers` as one flow mapping line (empty when off).
    private var yamlStarTowers: String {
        guard let s = model.starTowers else { return "" }
        return "\n  star_towers: {scenes: [\(s.scenes.map { Self.yamlScalar($0) }.joined(separator: ", "))]}"
    }

    /// `model.partitioned_norm` as one flow mapping line (empty when off).
    private var yamlPartitionedNorm: String {
        guard let s = model.partitionedNorm else { return "" }
        return "\n  partitioned_norm: {scenes: [\(s.scenes.map { Self.yamlScalar($0) }.joined(separator: ", "))], "
            + "momentum: \(s.momentum), epsilon: \(s.epsilon), min_batch_rows: \(s.minimumBatchRows)}"
    }

    /// `model.support_encoder` as one flow mapping line (empty when off).
    private var yamlSupportEncoder: String {
        guard let e = model.supportEncoder else { return "" }
        var fields = ["source: \(Self.yamlScalar(e.source))", "pooling: [\(e.pooling.map(\.rawValue).joined(separator: ", "))]"]
        if let label = e.label { fields.append("label: \(Self.yamlScalar(label))") }
        if e.embedding != .shared { fields.append("embedding: \(e.embedding.rawValue)") }
        if e.stopGradient { fields.append("stop_gradient: true") }
        return "\n  support_encoder: {\(fields.joined(separator: ", "))}"
    }
}
