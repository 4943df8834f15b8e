import Foundation
import ModelMath
import TensorCore
import Testing
import ModelDescription

/// STAR factors in `model.safetensors`: saved as `star_towers.<k>.<s>.layers.<l>.{weight,bias}`
/// and loaded back; a file without them (any model before STAR) still loads into a plain
/// template, a warm start may switch STAR on or off, and a STAR model needs its factors.
@Suite struct StarTowersCheckpointTests {
    static let plain = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [5], towerWidths: [3], taskCount: 2)
    static var star: NetworkSpec {
        var spec = plain
        spec.starTowers = StarTowers(column: 0, sceneKeys: [7, 8, 9])
        return spec
    }

    static func directory(_ parameters: ModelParameters) throws -> ModelDirectory {
        let path = NSTemporaryDirectory() + "star-checkpoint-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let directory = ModelDirectory(path: path)
        try directory.writeParameters(parameters, modelVersion: "v")
        return directory
    }

    @Test func `STAR factors are saved by name and load back exactly`() throws {
        var parameters = ModelParameters(spec: Self.star, seed: 3)
        parameters.starTowers[1][2].layers[0].weight.scalars[4] = 0.25
        parameters.starTowers[0][1].layers[1].bias.scalars[0] = -0.5
        let names = parameters.namedTensors.map(\.name)
        #expect(names.contains("star_towers.1.2.layers.0.weight") && names.contains("star_towers.0.0.layers.1.bias"))
        #expect(names.count == 2 * 2 + 2 * 2 + 2 * 4 + 2 * 3 * 4)
        let directory = try Self.directory(parameters)
        let (loaded, version) = try directory.readParameters(like: ModelParameters(spec: Self.star, seed: 9))
        #expect(loaded == parameters && version == "v")
    }

    @Test func `a plain file loads into a plain template, and a STAR template needs its factors unless warm-starting`() throws {
        let plain = ModelParameters(spec: Self.plain, seed: 3)
        let directory = try Self.directory(plain)
        #expect(try directory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1)).0 == plain)
        #expect {
            _ = try directory.readParameters(like: ModelParameters(spec: Self.star, seed: 1))
        } throws: { "\($0)".contains("tensor star_towers.0.0.layers.0.weight is missing") }
        // A warm start switches STAR on: the plain towers become the shared ones, every scene at 1 / 0.
        let warm = try directory.readParameters(like: ModelParameters(spec: Self.star, seed: 1), warmStart: true).0
        #expect(warm.towers == plain.towers && warm.experts == plain.experts)
        #expect(warm.starTowers == ModelParameters(spec: Self.star, seed: 1).starTowers)
        // ... and off: the factors are dropped.
        let starDirectory = try Self.directory(ModelParameters(spec: Self.star, seed: 4))
        #expect(throws: CheckpointError.self) { _ = try starDirectory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1)) }
        #expect(try starDirectory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1), warmStart: true).0.starTowers.isEmpty)
    }
}
