import ModelMath
import TensorCore
import TestSupport
import Testing

/// The inference bottom (one packed GEMM for every expert's first layer and every gate)
/// against the training bottom it stands in for.
@Suite struct PackedBottomTests {
    static let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.mean], numericCount: 3, embeddingDimension: 4)
    static let tasks = [TaskSpec(name: "click", kind: .binary, weight: 1), TaskSpec(name: "rating", kind: .regression, weight: 0.5)]

    /// Four experts take the AVX-512 four-rows-per-vector gate softmax; 29 rows are one full
    /// block of 24 and a tail of 5; `rowBlocks` false is the path below AVX-512.
    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .mmoe(experts: 4), .mmoe(experts: 1), .sharedBottom],
          [[24], [9, 16], [200]])
    func `packed bottom equals forwardBottom`(architecture: NetworkSpec.Architecture, widths: [Int]) {
        for activation in [Activation.relu, .tanh] {
            for rowBlocks in [true, false] {
                let spec = NetworkSpec(architecture: architecture, inputWidth: Self.layout.width, bottomWidths: widths,
                                       towerWidths: [4], taskCount: Self.tasks.count, activation: activation)
                let parameters = ModelParameters(spec: spec, seed: 17)
                let table = DictionaryEmbeddingTable(dimension: 4)
                let batch = randomBatch(rows: 29, layout: Self.layout, tasks: Self.tasks, seed: 3)
                var reference = NetworkWorkspace()
                MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: Self.layout, batch: batch, table: table,
                                               createEmbeddings: true, workspace: &reference)
                var packed = NetworkWorkspace()
                let bottom = PackedBottom(parameters, spec: spec)
                bottom.forward(batch: batch, layout: Self.layout, table: table, workspace: &packed, rowBlocks: rowBlocks)
                for k in 0..<spec.taskCount {
                    expectClose(packed.meta[k], reference.meta[k], rtol: 1e-5, atol: 1e-5,
                                "\(architecture) \(widths) \(activation) blocks \(rowBlocks) task \(k)")
                }
                // A smaller batch through the same workspace (shapes shrink in place).
                let small = randomBatch(rows: 5, layout: Self.layout, tasks: Self.tasks, seed: 4)
                MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: Self.layout, batch: small, table: table,
                                               createEmbeddings: true, workspace: &reference)
                bottom.forward(batch: small, layout: Self.layout, table: table, workspace: &packed, rowBlocks: rowBlocks)
                for k in 0..<spec.taskCount {
                    expectClose(packed.meta[k], reference.meta[k], rtol: 1e-5, atol: 1e-5, "small batch, blocks \(rowBlocks), task \(k)")
                }
            }
        }
    }
}

extension PackedBottomTests {
    /// A NaN in an expert's first layer is rectified to 0 by every path (ReLU(NaN) = 0, as the
    /// mixture kernels define it): row blocks and the whole batch give the same inputs.
    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 4), .sharedBottom])
    func `a NaN expert unit reads as 0 on both paths`(architecture: NetworkSpec.Architecture) {
        let spec = NetworkSpec(architecture: architecture, inputWidth: Self.layout.width, bottomWidths: [24],
                               towerWidths: [4], taskCount: Self.tasks.count, activation: .relu)
        var parameters = ModelParameters(spec: spec, seed: 5)
        parameters.experts[0].layers[0].weight[2, 7] = .nan
        let table = DictionaryEmbeddingTable(dimension: 4)
        let batch = randomBatch(rows: 29, layout: Self.layout, tasks: Self.tasks, seed: 6)
        let bottom = PackedBottom(parameters, spec: spec)
        var blocks = NetworkWorkspace(), whole = NetworkWorkspace()
        bottom.forward(batch: batch, layout: Self.layout, table: table, workspace: &blocks, rowBlocks: true)
        bottom.forward(batch: batch, layout: Self.layout, table: table, workspace: &whole, rowBlocks: false)
        for k in 0..<spec.taskCount {
            #expect(blocks.meta[k].isFinite && whole.meta[k].isFinite, "\(architecture) task \(k)")
            expectClose(blocks.meta[k], whole.meta[k], rtol: 1e-5, atol: 1e-6, "\(architecture) task \(k)")
        }
    }
}
