import Foundation
import ModelMath
import Testing
@testable import ModelDescription

/// The `scene` key of the model config (cross-domain ranking).
@Suite struct SceneConfigTests {
    static let yaml = """
        task_key: user_id
        scene: page
        features:
          - {name: user_id, kind: categorical}
          - {name: genres, kind: multi_categorical}
          - {name: page, kind: categorical}
        labels:
          - {name: like, kind: binary}
        """

    @Test func `scene parses, names its categorical slot and round-trips through YAML`() throws {
        let config = try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml")
        #expect(config.scene == "page" && config.sceneCategoricalIndex == 1)
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
        let plain = try ModelConfig.parse(yaml: Self.yaml.replacingOccurrences(of: "scene: page\n", with: ""), source: "test.yaml")
        #expect(plain.scene == nil && plain.sceneCategoricalIndex == nil && !plain.yamlString().contains("scene:"))
    }

    @Test(arguments: ["genres", "missing", "like"])
    func `a scene that is not a categorical feature is refused, naming the key`(column: String) {
        #expect {
            try ModelConfig.parse(yaml: Self.yaml.replacingOccurrences(of: "scene: page", with: "scene: \(column)"), source: "test.yaml")
        } throws: { error in
            guard case ConfigError.invalidValue(_, let keyPath, _, let reason) = error else { return false }
            return keyPath == "scene" && reason.contains(column)
        }
    }

    static let expertsYAML = yaml + """

        model:
          experts: 2
          scene_experts: {per_scene: 3, scenes: [home, "search", detail]}
        """

    @Test func `scene experts parse, shape the network and round-trip through YAML`() throws {
        let config = try ModelConfig.parse(yaml: Self.expertsYAML, source: "test.yaml")
        #expect(config.model.sceneExperts == .init(perScene: 3, scenes: ["home", "search", "detail"]))
        #expect(config.expertCount == 2 + 3 * 3 && config.networkSpec.expertCount == 11)
        let scenes = try #require(config.networkSpec.sceneExperts)
        #expect(scenes.column == 1 && scenes.shared == 2 && scenes.perScene == 3)
        #expect(scenes.sceneKeys == ["home", "search", "detail"].map { FeatureKey.hash(feature: "page", value: $0) })
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
        #expect(Double(ModelParameters(spec: config.networkSpec, seed: 1).parameterCount) == config.estimatedParameterCount)
    }

    @Test(arguments: [
        ("scene: page\n", "scene_experts: {per_scene: 1, scenes: [a]}", "model.scene_experts"),
        ("", "scene_experts: {per_scene: 1, scenes: []}", "model.scene_experts.scenes"),
        ("", "scene_experts: {per_scene: 1, scenes: [a, a]}", "model.scene_experts.scenes"),
        ("", "scene_experts: {per_scene: 0, scenes: [a]}", "model.scene_experts.per_scene"),
        ("", "scene_experts: {scenes: [a], gates: 2}", "model.scene_experts.gates"),
        ("", "architecture: shared_bottom\n  scene_experts: {scenes: [a]}", "model.scene_experts"),
    ])
    func `bad scene experts are refused, naming the key`(drop: String, line: String, keyPath: String) {
        var yaml = Self.yaml + "\nmodel:\n  " + line + "\n"
        if !drop.isEmpty { yaml = yaml.replacingOccurrences(of: drop, with: "") }
        #expect {
            try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.keyPath == keyPath
        }
    }
}
