import Testing
import ModelDescription
import ModelMath
import ParamServer

/// `model.support_encoder`: parsing, validation errors naming the key, the YAML round trip, and
/// what it changes in the input layout and the support-store rows.
@Suite struct SupportEncoderConfigTests {
    static let base = """
        task_key: user_id
        time: timestamp
        features:
          - {name: user_id, kind: categorical}
          - {name: item_id, kind: categorical}
          - {name: genres, kind: multi_categorical, separator: "|", pooling: mean}
        labels:
          - {name: like, kind: binary}
          - {name: rating, kind: regression}
        """

    static func parse(_ encoder: String) throws -> ModelConfig {
        try ModelConfig.parse(yaml: base + "\nmodel: {embedding_dim: 8, support_encoder: \(encoder)}", source: "test.yaml")
    }

    static func failure(_ encoder: String) -> ConfigError? {
        do {
            _ = try parse(encoder)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return nil
        }
    }

    @Test func `off by default: the layout and support rows are unchanged`() throws {
        let config = try ModelConfig.parse(yaml: Self.base, source: "test.yaml")
        #expect(config.model.supportEncoder == nil && config.supportEncoder == nil)
        #expect(config.inputLayout.multiCategoricalPooling == [.mean])
        #expect(config.supportRowWidth == config.taskCount * config.expertOutputWidth)
    }

    @Test func `a label-weighted encoder adds weighted blocks and a key to each support row`() throws {
        let config = try Self.parse("{source: item_id, pooling: [mean, label_weighted], label: rating}")
        #expect(config.model.supportEncoder == .init(source: "item_id", pooling: [.mean, .labelWeighted], label: "rating"))
        #expect(config.supportEncoder == SupportEncoder(pools: [.mean, .labelWeighted], sourceColumn: 1, labelColumn: 1,
                                                        capacity: config.supportStore.capacity))
        #expect(config.inputLayout.multiCategoricalPooling == [.mean, .weighted, .weighted])
        #expect(config.inputWidth == (2 + 1 + 2) * 8 && config.inputLayout.width == config.inputWidth)
        #expect(config.supportRowWidth == config.taskCount * config.expertOutputWidth + 2)
        // The key's two floats are bit patterns: a bf16 store keeps them as they are.
        let store = SupportStoreConfig(model: config, modelVersion: 1, precision: .bfloat16)
        #expect(store.bitPatternColumns == SupportRowKey.width && store.rowWidth == config.supportRowWidth)
    }

    @Test func `a single pooling name is a one-entry list`() throws {
        #expect(try Self.parse("{source: item_id, pooling: mean}").model.supportEncoder?.pooling == [.mean])
        #expect(try Self.parse("{source: item_id}").model.supportEncoder?.pooling == [.mean])
    }

    @Test func `the YAML form round-trips`() throws {
        let config = try Self.parse("{source: item_id, pooling: [label_weighted], label: rating}")
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round") == config)
        let stopped = try Self.parse("{source: item_id, pooling: [mean, label_weighted], label: rating, stop_gradient: true}")
        #expect(stopped.inputLayout.stopsGradient == [1, 2] && config.inputLayout.stopsGradient.isEmpty)
        #expect(try ModelConfig.parse(yaml: stopped.yamlString(), source: "round") == stopped)
        let own = try Self.parse("{source: item_id, embedding: own}")
        #expect(own.supportEncoder?.ownEmbeddings == true && config.supportEncoder?.ownEmbeddings == false)
        #expect(try ModelConfig.parse(yaml: own.yamlString(), source: "round") == own)
    }

    @Test func `bad settings name the key`() {
        #expect(Self.failure("{source: genres}")?.keyPath == "model.support_encoder.source", "not categorical")
        #expect(Self.failure("{source: movie}")?.keyPath == "model.support_encoder.source")
        #expect(Self.failure("{source: item_id, pooling: [label_weighted]}")?.keyPath == "model.support_encoder.label")
        #expect(Self.failure("{source: item_id, label: stars}")?.keyPath == "model.support_encoder.label")
        #expect(Self.failure("{source: item_id, pooling: [mean, mean]}")?.keyPath == "model.support_encoder.pooling")
        #expect(Self.failure("{source: item_id, pooling: max}")?.keyPath == "model.support_encoder.pooling")
        #expect(Self.failure("{source: item_id, pooling: []}")?.keyPath == "model.support_encoder.pooling")
        #expect(Self.failure("{source: item_id, weights: rating}")?.keyPath == "model.support_encoder.weights")
        #expect(Self.failure("{pooling: mean}")?.keyPath == "model.support_encoder.source")
        #expect(Self.failure("{source: item_id, embedding: separate}")?.keyPath == "model.support_encoder.embedding")
    }

    @Test func `row keys survive the float round trip`() {
        var row = [Float](repeating: 0, count: 2)
        for key: UInt64 in [0, 1, .max, 0x7FC0_0001_FFFF_FFFF, 0xDEAD_BEEF_0BAD_F00D] {
            row.withUnsafeMutableBufferPointer { SupportRowKey.write(key, to: $0.baseAddress!) }
            #expect(row.withUnsafeBufferPointer { SupportRowKey.read(from: $0.baseAddress!) } == key)
        }
    }
}
