import Foundation
import ModelMath
import Testing
@testable import ModelDescription

/// `model.star_towers` (STAR towers over the `scene` column).
@Suite struct StarTowersConfigTests {
    static let yaml = SceneConfigTests.yaml

    @Test func `STAR towers parse, shape the network, count their parameters and round-trip through YAML`() throws {
        for architecture in ["mmoe", "shared_bottom"] {
            let config = try ModelConfig.parse(
                yaml: Self.yaml + "\nmodel:\n  architecture: \(architecture)\n  tower_layers: [8, 4]\n  star_towers: {scenes: [home, \"search\"]}\n",
                source: "test.yaml")
            #expect(config.model.starTowers == .init(scenes: ["home", "search"]))
            let star = try #require(config.networkSpec.starTowers)
            #expect(star.column == 1 && star.sceneKeys == ["home", "search"].map { FeatureKey.hash(feature: "page", value: $0) })
            #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
            let parameters = ModelParameters(spec: config.networkSpec, seed: 1)
            #expect(parameters.starTowers.count == 1 && parameters.starTowers[0].count == 2)
            #expect(Double(parameters.parameterCount) == config.estimatedParameterCount)
        }
    }

    @Test func `star_towers true takes the scene experts' scenes, false is off`() throws {
        let on = try ModelConfig.parse(
            yaml: Self.yaml + "\nmodel:\n  scene_experts: {scenes: [a, b, c]}\n  star_towers: true\n", source: "test.yaml")
        #expect(on.model.starTowers?.scenes == ["a", "b", "c"])
        #expect(try ModelConfig.parse(yaml: on.yamlString(), source: "round-trip") == on)
        let off = try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  star_towers: false\n", source: "test.yaml")
        #expect(off.model.starTowers == nil && off.networkSpec.starTowers == nil && !off.yamlString().contains("star_towers"))
    }

    @Test(arguments: [
        ("scene: page\n", "star_towers: {scenes: [a]}", "model.star_towers"),
        ("", "star_towers: {scenes: []}", "model.star_towers.scenes"),
        ("", "star_towers: {scenes: [a, a]}", "model.star_towers.scenes"),
        ("", "star_towers: {scenes: [a], per_scene: 2}", "model.star_towers.per_scene"),
        ("", "star_towers: true", "model.star_towers"),
        ("", "star_towers: sometimes", "model.star_towers"),
    ])
    func `bad STAR towers are refused, naming the key`(drop: String, line: String, keyPath: String) {
        var yaml = Self.yaml + "\nmodel:\n  " + line + "\n"
        if !drop.isEmpty { yaml = yaml.replacingOccurrences(of: drop, with: "") }
        #expect {
            try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.keyPath == keyPath
        }
    }

    @Test func `the size guards count STAR's factors and its second copy of tower activations`() throws {
        let plain = try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml")
        let star = try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  star_towers: {scenes: [a, b, c]}\n", source: "test.yaml")
        #expect(star.estimatedParameterCount > plain.estimatedParameterCount)
        #expect(star.estimatedMemoryBytes > plain.estimatedMemoryBytes)
        let limit = Int(plain.estimatedParameterCount) + 1
        #expect(throws: Never.self) {
            try ModelConfig.parse(yaml: Self.yaml + "\nlimits: {max_parameters: \(limit)}\n", source: "test.yaml")
        }
        #expect {
            try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  star_towers: {scenes: [a, b, c]}\nlimits: {max_parameters: \(limit)}\n",
                                  source: "test.yaml")
        } throws: { "\($0)".contains("limits.max_parameters") && "\($0)".contains("STAR factors of 3 scenes") }
    }

    @Test func `too many scenes are refused`() {
        let scenes = (0..<65).map { "s\($0)" }.joined(separator: ", ")
        #expect(throws: ConfigError.self) {
            try ModelConfig.parse(yaml: Self.yaml + "\nmodel:\n  star_towers: {scenes: [\(scenes)]}\n", source: "test.yaml")
        }
    }
}
