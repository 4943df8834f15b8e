import Testing
@testable import ModelDescription

/// ``ModelConfig/sceneMismatch(warmStartingFrom:)``: which config changes a warm start refuses
/// because parameters or embedding rows would land in another scene's (or expert's) place.
@Suite struct SceneWarmStartConfigTests {
    static let yaml = """
        task_key: user_id
        scene: page
        features:
          - {name: user_id, kind: categorical}
          - {name: item_id, kind: categorical}
          - {name: page, kind: categorical}
        labels:
          - {name: like, kind: binary}
        model:
          experts: 2
          scene_experts: {per_scene: 2, scenes: [a, b]}
          star_towers: true
          partitioned_norm: true
        """

    static func config(_ edit: (inout ModelConfig) -> Void = { _ in }) throws -> ModelConfig {
        var c = try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        edit(&c)
        try c.validate()
        return c
    }

    @Test func `the same scene machinery, or STAR and partitioned norm switched on or off, is accepted`() throws {
        let source = try Self.config()
        #expect(try Self.config().sceneMismatch(warmStartingFrom: source) == nil)
        #expect(try Self.config { $0.model.starTowers = nil }.sceneMismatch(warmStartingFrom: source) == nil)
        #expect(try Self.config { $0.model.partitionedNorm = nil }.sceneMismatch(warmStartingFrom: source) == nil)
        #expect(try Self.config().sceneMismatch(warmStartingFrom: Self.config { $0.model.starTowers = nil; $0.model.partitionedNorm = nil }) == nil)
    }

    @Test(arguments: [
        ("star scenes reordered", "model.star_towers.scenes"),
        ("norm scenes reordered", "model.partitioned_norm.scenes"),
        ("experts split differently, same E", "model.scene_experts"),
        ("scene experts switched off, same E", "model.scene_experts"),
        ("gate kind changed", "model.scene_experts"),
        ("item_id made private", "features.item_id.scene_embedding"),
    ])
    func `a change that moves parameters or rows to another place is refused, naming the key`(change: String, key: String) throws {
        let source = try Self.config()
        let target = try Self.config { c in
            switch change {
            case "star scenes reordered": c.model.starTowers = .init(scenes: ["b", "a"])
            case "norm scenes reordered": c.model.partitionedNorm?.scenes = ["b", "a"]
            case "experts split differently, same E":  // 2 + 2·2 = 4 + 1·2 = 6 experts: every shape agrees
                c.model.experts = 4
                c.model.sceneExperts?.perScene = 1
            case "scene experts switched off, same E":
                c.model.experts = 6
                c.model.sceneExperts = nil
                c.model.starTowers = .init(scenes: ["a", "b"])
            case "gate kind changed": c.model.sceneExperts?.gates = .perScene
            default: c.features[1].sceneEmbedding = .private
            }
        }
        let reason = try #require(target.sceneMismatch(warmStartingFrom: source))
        #expect(reason.hasPrefix(key), "\(reason)")
    }

    @Test func `with a private feature the scene column cannot change`() throws {
        let yaml = Self.yaml.replacingOccurrences(of: "{name: item_id, kind: categorical}", with: "{name: item_id, kind: categorical, scene_embedding: private}")
            .replacingOccurrences(of: "  scene_experts: {per_scene: 2, scenes: [a, b]}\n  star_towers: true\n  partitioned_norm: true", with: "")
        let source = try ModelConfig.parse(yaml: yaml, source: "t")
        #expect(source.model.sceneExperts == nil && source.model.starTowers == nil)
        let target = try ModelConfig.parse(yaml: yaml.replacingOccurrences(of: "scene: page", with: "scene: user_id"), source: "t")
        #expect(target.sceneMismatch(warmStartingFrom: source)?.hasPrefix("scene:") == true)
        #expect(source.sceneMismatch(warmStartingFrom: source) == nil)
    }
}
