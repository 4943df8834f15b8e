import Foundation
import ModelMath
import Testing
@testable import ModelDescription

/// `model.partitioned_norm` (partitioned normalisation over the `scene` column).
@Suite struct PartitionedNormConfigTests {
    static let yaml = SceneConfigTests.yaml

    @Test func `partitioned norm parses, shapes the network, counts its parameters and round-trips through YAML`() throws {
        for architecture in ["mmoe", "shared_bottom"] {
            let config = try ModelConfig.parse(
                yaml: Self.yaml + "\nmodel:\n  architecture: \(architecture)\n  partitioned_norm: {scenes: [home, \"search\"], momentum: 0.9, epsilon: 0.001, min_batch_rows: 16}\n",
                source: "test.yaml")
            #expect(config.model.partitionedNorm == .init(scenes: ["home", "search"], momentum: 0.9, epsilon: 0.001, minimumBatchRows: 16))
            let norm = try #require(config.networkSpec.partitionedNorm)
            #expect(norm.column == 1 && norm.sceneKeys == ["home", "search"].map { FeatureKey.hash(feature: "page", value: $0) })
            #expect(norm.momentum == 0.9 && norm.epsilon == 0.001 && norm.minimumBatchRows == 16)
            #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
            let parameters = ModelParameters(spec: config.networkSpec, seed: 1)
            #expect(parameters.partitionedNorm.count == 1 && parameters.partitionedNorm[0].sceneCount == 2)
            #expect(Double(parameters.parameterCount) == config.estimatedParameterCount)
        }
        let defaults = try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  partitioned_norm: {scenes: [a]}\n", source: "test.yaml")
        #expect(defaults.model.partitionedNorm == .init(scenes: ["a"], momentum: 0.99, epsilon: 1e-5, minimumBatchRows: 2))
        #expect(try ModelConfig.parse(yaml: defaults.yamlString(), source: "round-trip") == defaults)
    }

    @Test func `true and a mapping without scenes take STAR's scenes, else the scene experts', false is off`() throws {
        let star = try ModelConfig.parse(
            yaml: Self.yaml + "\nmodel:\n  scene_experts: {scenes: [a, b, c]}\n  star_towers: {scenes: [x, y]}\n  partitioned_norm: true\n",
            source: "test.yaml")
        #expect(star.model.partitionedNorm?.scenes == ["x", "y"])
        let experts = try ModelConfig.parse(
            yaml: Self.yaml + "\nmodel:\n  scene_experts: {scenes: [a, b, c]}\n  partitioned_norm: {momentum: 0.5}\n", source: "test.yaml")
        #expect(experts.model.partitionedNorm == .init(scenes: ["a", "b", "c"], momentum: 0.5))
        #expect(try ModelConfig.parse(yaml: experts.yamlString(), source: "round-trip") == experts)
        let off = try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  partitioned_norm: false\n", source: "test.yaml")
        #expect(off.model.partitionedNorm == nil && off.networkSpec.partitionedNorm == nil && !off.yamlString().contains("partitioned_norm"))
    }

    @Test(arguments: [
        ("scene: page\n", "partitioned_norm: {scenes: [a]}", "model.partitioned_norm"),
        ("", "partitioned_norm: {scenes: []}", "model.partitioned_norm.scenes"),
        ("", "partitioned_norm: {scenes: [a, a]}", "model.partitioned_norm.scenes"),
        ("", "partitioned_norm: {scenes: [a], momentum: 1}", "model.partitioned_norm.momentum"),
        ("", "partitioned_norm: {scenes: [a], momentum: -0.1}", "model.partitioned_norm.momentum"),
        ("", "partitioned_norm: {scenes: [a], epsilon: 0}", "model.partitioned_norm.epsilon"),
        ("", "partitioned_norm: {scenes: [a], min_batch_rows: 1}", "model.partitioned_norm.min_batch_rows"),
        ("", "partitioned_norm: {scenes: [a], per_scene: 2}", "model.partitioned_norm.per_scene"),
        ("", "partitioned_norm: true", "model.partitioned_norm"),
        ("", "partitioned_norm: {momentum: 0.9}", "model.partitioned_norm"),
        ("", "partitioned_norm: sometimes", "model.partitioned_norm"),
    ])
    func `bad partitioned norms are refused, naming the key`(drop: String, line: String, keyPath: String) {
        var yaml = Self.yaml + "\nmodel:\n  " + line + "\n"
        if !drop.isEmpty { yaml = yaml.replacingOccurrences(of: drop, with: "") }
        #expect {
            try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.keyPath == keyPath
        }
    }

    @Test func `too many scenes are refused`() {
        let scenes = (0..<65).map { "s\($0)" }.joined(separator: ", ")
        #expect(throws: ConfigError.self) {
            try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  partitioned_norm: {scenes: [\(scenes)]}\n", source: "test.yaml")
        }
    }
}
