import Testing
@testable import ModelDescription
import ModelMath
import ParamServer

/// The smallest valid config (required keys only).
private let minimalYAML = """
    task_key: user_id
    features:
      - {name: user_id, kind: categorical}
    labels:
      - {name: like, kind: binary}
    """

/// The documented example, every section spelled out.
private let fullYAML = """
    task_key: user_id
    time: timestamp
    features:
      - {name: user_id, kind: categorical}
      - {name: genres, kind: multi_categorical, separator: "|", pooling: mean}
      - {name: age, kind: numeric, normalization: standard}
    labels:
      - {name: like, kind: binary, weight: 1.0}
      - {name: rating, kind: regression, weight: 0.5}
    model:
      architecture: mmoe
      embedding_dim: 8
      experts: 3
      expert_layers: [64, 16]
      tower_layers: [8]
      shared_bottom_layers: [64, 32]
      seed: 7
    meta:
      enabled: true
      order: second
      inner_steps: 2
      inner_learning_rate: 0.1
      meta_weight: 0.5
      min_task_rows: 6
      support_fraction: 0.25
      learn_inner_rates: true
      inner_rates_learning_rate: 0.02
      head_l2_scale: sum
    training:
      optimizer: {kind: adam, learning_rate: 0.002, beta1: 0.8, beta2: 0.99, epsilon: 1.0e-7, weight_decay: 0.01}
      embedding_optimizer: {kind: sgd, learning_rate: 0.1}
      batch_size: 256
      epochs: 3
      seed: 9
      shuffle_buffer: 0
      threads: 1
      early_stopping_patience: 0
      max_bad_rows: 5
    embeddings:
      admission_count: 2
      ttl_seconds: 86400
    support_store:
      capacity: 32
      ttl_seconds: 0
      keep_floor: 2
      max_tasks: 1000
    serving:
      finetune: false
      inner_steps: 5
      inner_learning_rate: 0.01
      max_candidates: 200
      max_body_bytes: 65536
      batch_max_requests: 16
      batch_max_wait_microseconds: 500
    """

/// `minimalYAML` with `extra` appended (its first line is line 6).
private func variant(_ extra: String) -> String { minimalYAML + "\n" + extra }

/// Parses `yaml` and returns the error's description (fails the test when it parses).
private func failure(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        _ = try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        Issue.record("expected a ConfigError", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

@Suite struct ModelConfigTests {
    @Test func `defaults match the documented values`() throws {
        let c = try ModelConfig.parse(yaml: minimalYAML, source: "min.yaml")
        #expect(c.taskKey == "user_id")
        #expect(c.time == nil)
        #expect(c.labels == [.init(name: "like", kind: .binary, weight: 1.0)])
        #expect(c.model.architecture == .mmoe)
        #expect(c.model.embeddingDimension == 16)
        #expect(c.model.experts == 4)
        #expect(c.model.expertLayers == [64, 32])
        #expect(c.model.towerLayers == [32])
        #expect(c.model.sharedBottomLayers == [64, 32])
        #expect(c.model.seed == 1)
        #expect(c.meta.enabled && c.meta.order == .first && c.meta.innerSteps == 1)
        #expect(c.meta.innerLearningRate == 0.05 && c.meta.metaWeight == 1.0)
        #expect(!c.meta.learnInnerRates && c.meta.innerRatesLearningRate == 0.01)
        #expect(c.meta.minTaskRows == 4 && c.meta.supportFraction == 0.5)
        #expect(c.training.optimizer == .adam(.init(learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)))
        #expect(c.training.embeddingOptimizer == .adagrad(.init(learningRate: 0.05, initialAccumulator: 0.1)))
        #expect(c.training.batchSize == 512 && c.training.epochs == 5 && c.training.seed == 1)
        #expect(c.training.shuffle == .buffer(rows: 100_000))
        #expect(c.training.threads == 2)
        #expect(c.training.earlyStopping == .patience(epochs: 2))
        #expect(c.training.maxBadRows == 0)
        #expect(c.embeddings.admissionCount == 1 && c.embeddings.expiry == .never)
        #expect(c.supportStore.capacity == 64 && c.supportStore.expiry == .after(seconds: 2_592_000))
        #expect(c.supportStore.keepFloor == 4 && c.supportStore.maxTasks == 1_000_000)
        #expect(c.supportStore.maxBytes == 1 << 30)
        #expect(c.serving.finetune && c.serving.innerSteps == 3 && c.serving.innerLearningRate == 0.05)
        #expect(c.serving.maxCandidates == 1000 && c.serving.maxBodyBytes == 1_048_576)
        #expect(c.serving.batchMaxRequests == 4 && c.serving.batchMaxWaitMicroseconds == 200)
        #expect(c == ModelConfig(taskKey: "user_id", features: [.init(name: "user_id", kind: .categorical)],
                                 labels: [.init(name: "like", kind: .binary)]))
    }

    @Test func `feature defaults: separator bar, mean pooling, standard normalisation`() throws {
        let c = try ModelConfig.parse(yaml: """
            task_key: u
            features:
              - {name: tags, kind: multi_categorical}
              - {name: x, kind: numeric}
            labels:
              - {name: y, kind: regression}
            """, source: "t")
        #expect(c.features[0].kind == .multiCategorical(separator: "|", pooling: .mean))
        #expect(c.features[1].kind == .numeric(normalization: .standard))
    }

    @Test func `full example parses every field`() throws {
        let c = try ModelConfig.parse(yaml: fullYAML, source: "full.yaml")
        #expect(c.time == "timestamp")
        #expect(c.features.map(\.name) == ["user_id", "genres", "age"])
        #expect(c.labels[1] == .init(name: "rating", kind: .regression, weight: 0.5))
        #expect(c.model.experts == 3 && c.model.expertLayers == [64, 16] && c.model.seed == 7)
        #expect(c.meta.order == .second && c.meta.supportFraction == 0.25)
        #expect(c.meta.learnInnerRates && c.meta.innerRatesLearningRate == 0.02)
        var ridge = c
        ridge.meta.headSolver = .ridge
        #expect(c.meta.headL2Scale == .sum && ridge.adaptation(steps: 0, learningRate: 0.1).head == .ridge(l2: 1, scale: .sum))
        #expect(c.training.optimizer == .adam(.init(learningRate: 0.002, beta1: 0.8, beta2: 0.99, epsilon: 1e-7, weightDecay: 0.01)))
        #expect(c.training.embeddingOptimizer == .sgd(.init(learningRate: 0.1, momentum: 0, weightDecay: 0)))
        #expect(c.training.shuffle == .none && c.training.earlyStopping == .off && c.training.maxBadRows == 5)
        #expect(c.embeddings.expiry == .after(seconds: 86400) && c.supportStore.expiry == .never)
        #expect(!c.serving.finetune && c.serving.batchMaxWaitMicroseconds == 500)
    }

    @Test func `accessors: features by kind, K and H`() throws {
        let c = try ModelConfig.parse(yaml: fullYAML, source: "full.yaml")
        #expect(c.categoricalFeatures.map(\.name) == ["user_id"])
        #expect(c.multiCategoricalFeatures.map(\.name) == ["genres"])
        #expect(c.numericFeatures.map(\.name) == ["age"])
        #expect(c.taskCount == 2)
        #expect(c.expertOutputWidth == 16)
        #expect(c.inputWidth == 2 * 8 + 1)
        var shared = c
        shared.model.architecture = .sharedBottom
        #expect(shared.expertOutputWidth == 32)
    }

    @Test(arguments: [minimalYAML, fullYAML])
    func `yamlString round-trips`(yaml: String) throws {
        let c = try ModelConfig.parse(yaml: yaml, source: "a.yaml")
        let again = try ModelConfig.parse(yaml: c.yamlString(), source: "b.yaml")
        #expect(again == c)
        #expect(again.yamlString() == c.yamlString())
    }

    @Test func `yamlString round-trips awkward names and separators`() throws {
        var c = try ModelConfig.parse(yaml: minimalYAML, source: "a.yaml")
        c.features.append(.init(name: "weird: \"name\", #1", kind: .multiCategorical(separator: ", ", pooling: .sum)))
        c.features.append(.init(name: "true", kind: .numeric(normalization: .log1p)))
        c.features.append(.init(name: "123", kind: .numeric(normalization: .none)))
        c.labels.append(.init(name: "null", kind: .regression, weight: 0.125))
        c.time = "ts"
        c.training.optimizer = .sgd(.init(learningRate: 1e-3, momentum: 0.5, weightDecay: 1e-4))
        c.training.embeddingOptimizer = .adam(.init())
        try c.validate()
        #expect(try ModelConfig.parse(yaml: c.yamlString(), source: "b.yaml") == c)
    }

    @Test func `Codable round-trips through JSON`() throws {
        let c = try ModelConfig.parse(yaml: fullYAML, source: "full.yaml")
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(ModelConfig.self, from: data) == c)
    }

    @Test func `unknown keys name the path and suggest the closest key`() {
        let e = failure(variant("meta:\n  ordr: first"))
        #expect(e?.keyPath == "meta.ordr")
        #expect(e?.description == "test.yaml:7: meta.ordr: unknown key (did you mean order?)")
        #expect(failure(variant("modle: {experts: 2}"))?.description.contains("modle: unknown key (did you mean model?)") == true)
        #expect(failure(variant("serving: {zzzzzzzz: 1}"))?.description.hasSuffix("serving.zzzzzzzz: unknown key") == true)
        let f = failure("""
            task_key: u
            features:
              - {name: a, kind: categorical, pooling: mean}
            labels: [{name: y, kind: binary}]
            """)
        #expect(f?.keyPath == "features[0].pooling")
        #expect(f?.reason == "not a setting of kind categorical")
        let g = failure(variant("training: {optimizer: {kind: sgd, beta1: 0.9}}"))
        #expect(g?.keyPath == "training.optimizer.beta1")
        let h = failure("""
            task_key: u
            features: [{name: a, kind: categorical, colour: red}]
            labels: [{name: y, kind: binary}]
            """)
        #expect(h?.keyPath == "features[0].colour")
    }

    @Test func `wrong types name the path, the expected type and the value`() {
        #expect(failure(variant("model:\n  experts: four"))?.description
                == "test.yaml:7: model.experts: expected an integer, got \"four\"")
        #expect(failure(variant("model: {expert_layers: 64}"))?.reason == "expected a list, got \"64\"")
        #expect(failure(variant("model: {expert_layers: [64, x]}"))?.keyPath == "model.expert_layers[1]")
        #expect(failure(variant("model: {experts: 2.5}"))?.reason == "expected an integer, got \"2.5\"")
        #expect(failure(variant("model: {experts: \"4\"}"))?.reason == "expected an integer, got \"4\"")
        #expect(failure(variant("meta: {enabled: maybe}"))?.reason == "expected true or false, got \"maybe\"")
        #expect(failure(variant("meta: {order: third}"))?.reason == "expected one of first | second, got \"third\"")
        #expect(failure(variant("meta: {head_l2_scale: median}"))?.keyPath == "meta.head_l2_scale")
        #expect(failure(variant("meta: {inner_learning_rate: fast}"))?.keyPath == "meta.inner_learning_rate")
        #expect(failure(variant("model: {architecture: transformer}"))?.reason
                == "expected one of mmoe | shared_bottom, got \"transformer\"")
        #expect(failure(variant("training: {optimizer: {kind: lion}}"))?.keyPath == "training.optimizer.kind")
        #expect(failure(variant("serving: [1, 2]"))?.reason == "expected a mapping, got a list")
        #expect(failure("task_key: u\nfeatures: {name: a}\nlabels: [{name: y, kind: binary}]")?.keyPath == "features")
        #expect(failure("task_key: u\nfeatures: [{name: a, kind: embedding}]\nlabels: [{name: y, kind: binary}]")?.keyPath
                == "features[0].kind")
        #expect(failure("task_key: u\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: ordinal}]")?.keyPath
                == "labels[0].kind")
        #expect(failure("- a\n- b")?.reason == "expected a mapping, got a list")
    }

    @Test func `missing required keys are named`() {
        #expect(failure("features: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}]")?.keyPath == "task_key")
        #expect(failure("task_key: u\nlabels: [{name: y, kind: binary}]")?.keyPath == "features")
        #expect(failure("task_key: u\nfeatures: [{name: a, kind: categorical}]")?.keyPath == "labels")
        #expect(failure("task_key: u\nfeatures: [{kind: categorical}]\nlabels: [{name: y, kind: binary}]")?.keyPath
                == "features[0].name")
        #expect(failure("task_key: u\nfeatures: [{name: a}]\nlabels: [{name: y, kind: binary}]")?.description
                == "test.yaml:2: features[0].kind: required key is missing")
        #expect(failure("")?.keyPath == "task_key")
    }

    @Test func `YAML syntax errors carry line and column`() {
        let e = failure("task_key: [unclosed\nfeatures: x")
        guard case .syntax(let source, let line, _, _) = e else {
            Issue.record("expected a syntax error, got \(String(describing: e))")
            return
        }
        #expect(source == "test.yaml")
        #expect(line != nil)
        #expect(failure(variant("task_key: again")) != nil)  // duplicate key
    }

    /// Each validation rule, with the key path it must name.
    static let validationCases: [(yaml: String, keyPath: String)] = [
        ("task_key: u\nfeatures: []\nlabels: [{name: y, kind: binary}]", "features"),
        ("task_key: u\nfeatures: [{name: a, kind: categorical}]\nlabels: []", "labels"),
        ("task_key: \"\"\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}]", "task_key"),
        ("task_key: u\nfeatures: [{name: a, kind: categorical}, {name: a, kind: numeric}]\nlabels: [{name: y, kind: binary}]", "features[1].name"),
        ("task_key: u\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: a, kind: binary}]", "labels[0].name"),
        ("task_key: u\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}, {name: y, kind: regression}]", "labels[1].name"),
        ("task_key: y\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}]", "task_key"),
        ("task_key: u\ntime: y\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}]", "time"),
        ("task_key: u\ntime: u\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary}]", "time"),
        ("task_key: u\nfeatures: [{name: a, kind: multi_categorical, separator: \"\"}]\nlabels: [{name: y, kind: binary}]", "features[0].separator"),
        ("task_key: u\nfeatures: [{name: a, kind: categorical}]\nlabels: [{name: y, kind: binary, weight: -1}]", "labels[0].weight"),
        (variant("model: {embedding_dim: 0}"), "model.embedding_dim"),
        (variant("model: {experts: 0}"), "model.experts"),
        (variant("model: {expert_layers: []}"), "model.expert_layers"),
        (variant("model: {expert_layers: [64, -1]}"), "model.expert_layers[1]"),
        (variant("model: {tower_layers: [0]}"), "model.tower_layers[0]"),
        (variant("model: {architecture: shared_bottom, shared_bottom_layers: []}"), "model.shared_bottom_layers"),
        (variant("model: {seed: -1}"), "model.seed"),
        (variant("meta: {inner_steps: 0}"), "meta.inner_steps"),
        (variant("meta: {inner_learning_rate: 0}"), "meta.inner_learning_rate"),
        (variant("meta: {meta_weight: -0.5}"), "meta.meta_weight"),
        (variant("meta: {min_task_rows: 1}"), "meta.min_task_rows"),
        (variant("meta: {support_fraction: 1.0}"), "meta.support_fraction"),
        (variant("meta: {support_fraction: 0}"), "meta.support_fraction"),
        (variant("meta: {enabled: false, learn_inner_rates: true}"), "meta.learn_inner_rates"),
        (variant("meta: {inner_rates_learning_rate: 0}"), "meta.inner_rates_learning_rate"),
        (variant("training: {optimizer: {kind: adam, learning_rate: 0}}"), "training.optimizer.learning_rate"),
        (variant("training: {optimizer: {kind: adam, beta1: 1.0}}"), "training.optimizer.beta1"),
        (variant("training: {optimizer: {kind: adam, beta2: -0.1}}"), "training.optimizer.beta2"),
        (variant("training: {optimizer: {kind: adam, epsilon: 0}}"), "training.optimizer.epsilon"),
        (variant("training: {optimizer: {kind: adam, weight_decay: -1}}"), "training.optimizer.weight_decay"),
        (variant("training: {embedding_optimizer: {kind: adagrad, initial_accumulator: -1}}"), "training.embedding_optimizer.initial_accumulator"),
        (variant("training: {embedding_optimizer: {kind: sgd, momentum: 1}}"), "training.embedding_optimizer.momentum"),
        (variant("training: {batch_size: 0}"), "training.batch_size"),
        (variant("training: {epochs: 0}"), "training.epochs"),
        (variant("training: {shuffle_buffer: -1}"), "training.shuffle_buffer"),
        (variant("training: {threads: 0}"), "training.threads"),
        (variant("training: {early_stopping_patience: -1}"), "training.early_stopping_patience"),
        (variant("training: {max_bad_rows: -1}"), "training.max_bad_rows"),
        (variant("embeddings: {admission_count: 0}"), "embeddings.admission_count"),
        (variant("embeddings: {ttl_seconds: -5}"), "embeddings.ttl_seconds"),
        (variant("support_store: {capacity: 0}"), "support_store.capacity"),
        (variant("support_store: {capacity: 8, keep_floor: 9}"), "support_store.keep_floor"),
        (variant("support_store: {max_tasks: 0}"), "support_store.max_tasks"),
        (variant("support_store: {max_tasks: 9000000000000000000}"), "support_store.max_tasks"),
        (variant("support_store: {max_bytes: 1000}"), "support_store.max_bytes"),
        (variant("support_store: {max_bytes: 2000000000000}"), "support_store.max_bytes"),
        (variant("support_store: {ttl_seconds: -1}"), "support_store.ttl_seconds"),
        (variant("serving: {inner_steps: 0}"), "serving.inner_steps"),
        (variant("serving: {inner_learning_rate: -1}"), "serving.inner_learning_rate"),
        (variant("serving: {finetune_min_support_rows: 0}"), "serving.finetune_min_support_rows"),
        (variant("support_store: {capacity: 8}\nserving: {finetune_min_support_rows: 9}"), "serving.finetune_min_support_rows"),
        (variant("serving: {max_candidates: 0}"), "serving.max_candidates"),
        (variant("serving: {max_body_bytes: 0}"), "serving.max_body_bytes"),
        (variant("serving: {batch_max_requests: 0}"), "serving.batch_max_requests"),
        (variant("serving: {batch_max_wait_microseconds: -1}"), "serving.batch_max_wait_microseconds"),
    ]

    @Test(arguments: validationCases)
    func `every validation error names its key path`(yaml: String, keyPath: String) {
        let e = failure(yaml)
        #expect(e?.keyPath == keyPath, "\(String(describing: e))")
        #expect(e?.description.contains("test.yaml") == true)
        #expect(e?.description.contains("\(keyPath): ") == true)
    }

    @Test func `validation errors carry the line of the offending value`() {
        let e = failure(variant("meta:\n  inner_steps: 2\n  support_fraction: 1.5"))
        #expect(e?.line == 8)
        #expect(e?.description == "test.yaml:8: meta.support_fraction: must be in (0, 1), got 1.5")
    }

    @Test func `task key may also be a feature`() throws {
        let c = try ModelConfig.parse(yaml: minimalYAML, source: "t")
        #expect(c.features[0].name == c.taskKey)
    }

    @Test func `serving.support_precision: f32 by default and not written, bf16 parsed and round-tripped, others named`() throws {
        let plain = try ModelConfig.parse(yaml: minimalYAML, source: "a.yaml")
        #expect(plain.serving.supportPrecision == .float32)
        #expect(!plain.yamlString().contains("support_precision"), "the default is not written, so builds that predate it load the model")
        let c = try ModelConfig.parse(yaml: variant("serving: {support_precision: bf16}"), source: "b.yaml")
        #expect(c.serving.supportPrecision == .bfloat16)
        #expect(try ModelConfig.parse(yaml: c.yamlString(), source: "c.yaml") == c)
        #expect(failure(variant("serving: {support_precision: fp16}"))?.description
                    .hasSuffix("serving.support_precision: expected one of f32 | bf16, got \"fp16\"") == true)
        // The store a loaded model gets: the config's precision, the support encoder's key kept exact.
        let store = SupportStoreConfig(model: c, modelVersion: 1, precision: c.serving.supportPrecision)
        #expect(store.precision == .bfloat16 && store.bitPatternColumns == 0 && store.rowWidth == c.taskCount * c.expertOutputWidth)
        #expect(SupportStoreConfig(model: c, modelVersion: 1).precision == .float32, "training's store stays float32")
    }

    @Test func `null values mean the default and an absent optional`() throws {
        let c = try ModelConfig.parse(yaml: variant("model:\ntime: ~"), source: "t")
        #expect(c.model == ModelConfig.Network())
        #expect(c.time == nil)
    }

    @Test func `load reads a file and reports unreadable paths`() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-config-\(UInt64.random(in: 0...UInt64.max)).yaml").path
        try fullYAML.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try ModelConfig.load(yamlFile: path) == ModelConfig.parse(yaml: fullYAML, source: "x"))
        #expect(throws: ConfigError.self) { try ModelConfig.load(yamlFile: path + ".missing") }
        do {
            _ = try ModelConfig.load(yamlFile: path + ".missing")
        } catch {
            #expect(error.source == path + ".missing")
            #expect(error.description.hasPrefix(path + ".missing: "))
        }
    }
}

import Foundation
