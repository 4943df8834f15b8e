import Foundation
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
}
