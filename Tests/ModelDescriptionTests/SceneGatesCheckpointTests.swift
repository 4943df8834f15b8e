import Foundation
import ModelMath
import TensorCore
import Testing
import ModelDescription

/// Per-scene gates (``SceneExperts/Gates/perScene``) in `model.safetensors`: saved as
/// `scene_gates.<k>.<s>.{weight,bias}` beside `gates.<k>.*` (the unknown scene's, over the shared
/// experts) and loaded back; a shared-gate file (any model before them) still loads into a
/// shared-gate template and is refused by a per-scene one.
@Suite struct SceneGatesCheckpointTests {
    static func spec(_ gates: SceneExperts.Gates) -> NetworkSpec {
        let scenes = SceneExperts(column: 0, sceneKeys: [7, 8, 9], shared: 2, perScene: 1, gates: gates)
        return NetworkSpec(architecture: .mmoe(experts: scenes.expertCount), inputWidth: 6, bottomWidths: [5], towerWidths: [3],
                           taskCount: 2, sceneExperts: scenes)
    }

    static func directory(_ parameters: ModelParameters) throws -> ModelDirectory {
        let path = NSTemporaryDirectory() + "scene-gates-checkpoint-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let directory = ModelDirectory(path: path)
        try directory.writeParameters(parameters, modelVersion: "v")
        return directory
    }

    @Test func `per-scene gates are saved by name and load back exactly`() throws {
        var parameters = ModelParameters(spec: Self.spec(.perScene), seed: 3)
        parameters.sceneGates[1][2].weight.scalars[4] = 0.25
        parameters.sceneGates[0][1].bias.scalars[2] = -0.5
        let names = parameters.namedTensors.map(\.name)
        #expect(names.contains("scene_gates.1.2.weight") && names.contains("scene_gates.0.0.bias") && names.contains("gates.1.weight"))
        #expect(names.count == 5 * 2 + 2 * 2 + 2 * 4 + 2 * 3 * 2)
        #expect(parameters.gates[0].weight.shape == [6, 2] && parameters.sceneGates[0][0].weight.shape == [6, 3])
        let directory = try Self.directory(parameters)
        let (loaded, version) = try directory.readParameters(like: ModelParameters(spec: Self.spec(.perScene), seed: 9))
        #expect(loaded == parameters && version == "v")
    }

    @Test func `a shared-gate file loads into a shared-gate template only`() throws {
        let shared = ModelParameters(spec: Self.spec(.shared), seed: 3)
        #expect(shared.sceneGates.isEmpty && shared.gates[0].weight.shape == [6, 5])
        let directory = try Self.directory(shared)
        #expect(try directory.readParameters(like: ModelParameters(spec: Self.spec(.shared), seed: 1)).0 == shared)
        #expect(throws: CheckpointError.self) { _ = try directory.readParameters(like: ModelParameters(spec: Self.spec(.perScene), seed: 1)) }
        let perScene = try Self.directory(ModelParameters(spec: Self.spec(.perScene), seed: 4))
        #expect(throws: CheckpointError.self) { _ = try perScene.readParameters(like: ModelParameters(spec: Self.spec(.shared), seed: 1)) }
    }
}
