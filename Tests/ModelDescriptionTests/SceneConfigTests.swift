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
        #expect(scenes.gates == .shared && !config.yamlString().contains("gates"))
    }

    @Test func `per-scene gates parse, shape the parameters, count and round-trip`() throws {
        let yaml = Self.expertsYAML.replacingOccurrences(of: "detail]}", with: "detail], gates: per_scene}")
        let config = try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        #expect(config.model.sceneExperts?.gates == .perScene)
        let spec = config.networkSpec, scenes = try #require(spec.sceneExperts)
        #expect(scenes.gates == .perScene && spec.expertCount == 11)
        let parameters = ModelParameters(spec: spec, seed: 1)
        // Per task: the unknown scene's gate over the 2 shared experts, each scene's over 2 + 3.
        #expect(parameters.gates.map(\.outputs) == [2])
        #expect(parameters.sceneGates.map { $0.map(\.outputs) } == [[5, 5, 5]])
        #expect(Double(parameters.parameterCount) == config.estimatedParameterCount)
        let shared = try ModelConfig.parse(yaml: Self.expertsYAML, source: "test.yaml")
        #expect(config.estimatedMemoryBytes > shared.estimatedMemoryBytes)
        #expect(config.yamlString().contains("gates: per_scene"))
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
        // A manifest written before per-scene gates has no `gates`: shared.
        let json = #"{"perScene": 3, "scenes": ["home"]}"#
        #expect(try JSONDecoder().decode(ModelConfig.SceneExpertsSpec.self, from: Data(json.utf8)).gates == .shared)
        let encoded = try JSONEncoder().encode(config.model.sceneExperts!)
        #expect(try JSONDecoder().decode(ModelConfig.SceneExpertsSpec.self, from: encoded) == config.model.sceneExperts!)
    }

    @Test(arguments: [
        ("scene: page\n", "scene_experts: {per_scene: 1, scenes: [a]}", "model.scene_experts"),
        ("", "scene_experts: {per_scene: 1, scenes: []}", "model.scene_experts.scenes"),
        ("", "scene_experts: {per_scene: 1, scenes: [a, a]}", "model.scene_experts.scenes"),
        ("", "scene_experts: {per_scene: 0, scenes: [a]}", "model.scene_experts.per_scene"),
        ("", "scene_experts: {scenes: [a], gates: 2}", "model.scene_experts.gates"),
        ("", "scene_experts: {scenes: [a], gates: per_task}", "model.scene_experts.gates"),
        ("", "scene_experts: {scenes: [a], gates: [shared]}", "model.scene_experts.gates"),
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
