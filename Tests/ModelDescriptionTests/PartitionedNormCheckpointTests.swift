import Foundation
import ModelMath
import TensorCore
import Testing
import ModelDescription

/// Partitioned norm in `model.safetensors`: factors and running statistics saved as
/// `partitioned_norm.<k>.<field>` and loaded back; a file without them (any model before it)
/// still loads into a plain template, a warm start may switch it on or off.
@Suite struct PartitionedNormCheckpointTests {
    static let plain = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [5], towerWidths: [3], taskCount: 2)
    static var normed: NetworkSpec {
        var spec = plain
        spec.partitionedNorm = PartitionedNormalization(column: 0, sceneKeys: [7, 8, 9])
        return spec
    }

    @Test func `factors and running statistics are saved by name and load back exactly`() throws {
        var parameters = ModelParameters(spec: Self.normed, seed: 3)
        parameters.partitionedNorm[1].runningMean[3, 2] = 0.25
        parameters.partitionedNorm[1].runningVariance[1, 4] = 2.5
        parameters.partitionedNorm[0].sceneGamma[2, 0] = 1.5
        parameters.partitionedNorm[0].beta[3] = -0.5
        let names = parameters.namedTensors.map(\.name)
        #expect(names.contains("partitioned_norm.1.running_mean") && names.contains("partitioned_norm.0.scene_beta"))
        let directory = try StarTowersCheckpointTests.directory(parameters)
        let (loaded, version) = try directory.readParameters(like: ModelParameters(spec: Self.normed, seed: 9))
        #expect(loaded == parameters && version == "v")
        #expect(loaded.partitionedNorm[1].runningVariance[1, 4] == 2.5)
    }

    @Test func `a plain file loads into a plain template, and a normed template needs its tensors unless warm-starting`() throws {
        let plain = ModelParameters(spec: Self.plain, seed: 3)
        let directory = try StarTowersCheckpointTests.directory(plain)
        #expect(try directory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1)).0 == plain)
        #expect {
            _ = try directory.readParameters(like: ModelParameters(spec: Self.normed, seed: 1))
        } throws: { "\($0)".contains("partitioned_norm.0.") && "\($0)".contains("missing") }
        let warm = try directory.readParameters(like: ModelParameters(spec: Self.normed, seed: 1), warmStart: true).0
        #expect(warm.towers == plain.towers && warm.experts == plain.experts)
        #expect(warm.partitionedNorm == ModelParameters(spec: Self.normed, seed: 1).partitionedNorm)
        let normedDirectory = try StarTowersCheckpointTests.directory(ModelParameters(spec: Self.normed, seed: 4))
        #expect(throws: CheckpointError.self) { _ = try normedDirectory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1)) }
        #expect(try normedDirectory.readParameters(like: ModelParameters(spec: Self.plain, seed: 1), warmStart: true).0.partitionedNorm.isEmpty)
    }
}
