import Foundation
import ModelMath
import TensorCore
import TestSupport
import Testing

/// Partitioned normalisation (``PartitionedNorm``, STAR §PN, Sheng et al. CIKM 2021): the op
/// against a naive per-row reference in Double (batch and running statistics, several scenes, an
/// unknown scene, a scene with one row), its backward through the batch statistics against finite
/// differences, the running update, the inference affine, and the network's gradients through it.
@Suite struct PartitionedNormTests {
    static let scenes = 3, width = 4

    /// Parameters away from the identity start (γ, γ_s around 1, β, β_s around 0, running
    /// statistics not 0 / 1).
    static func parameters(seed: UInt64, width: Int = width) -> PartitionedNormParameters {
        var p = PartitionedNormParameters(scenes: scenes, width: width)
        p.gamma = randomTensor([width], seed: seed).map { 1 + 0.3 * $0 }
        p.beta = randomTensor([width], seed: seed + 1, scale: 0.5)
        p.sceneGamma = randomTensor([scenes, width], seed: seed + 2).map { 1 + 0.3 * $0 }
        p.sceneBeta = randomTensor([scenes, width], seed: seed + 3, scale: 0.5)
        p.runningMean = randomTensor([scenes + 1, width], seed: seed + 4, scale: 0.5)
        p.runningVariance = randomTensor([scenes + 1, width], seed: seed + 5).map { 0.5 + $0 * $0 }
        return p
    }

    /// Rows' scenes: scene 0 has 3 rows, scene 1 one (so it falls back to running statistics),
    /// scene 2 none among the first rows, −1 unknown; longer batches cycle.
    static func rowScenes(_ rows: Int) -> [Int32] {
        let pattern: [Int32] = [0, -1, 0, 1, 2, 0, -1, 2]
        return (0..<rows).map { pattern[$0 % pattern.count] }
    }

    /// Row by row in Double: each scene's (or the pooled) mean and biased variance over its rows,
    /// or the running ones when `running` or when the group has fewer than `minimumRows` (≥ 2) rows.
    static func reference(_ p: PartitionedNormParameters, rowScenes: [Int32], input: Tensor, running: Bool, epsilon: Double,
                          minimumRows: Int = 2) -> Tensor {
        let b = input.rows, h = input.columns, s = p.sceneCount
        var out = Tensor(shape: [b, h])
        for r in 0..<b {
            let scene = Int(rowScenes[r])
            let g = scene >= 0 ? scene : s
            let members = (0..<b).filter { scene >= 0 ? Int(rowScenes[$0]) == scene : true }
            for j in 0..<h {
                var mean = Double(p.runningMean[g, j]), variance = Double(p.runningVariance[g, j])
                if !running && members.count >= max(minimumRows, 2) {
                    mean = members.reduce(0.0) { $0 + Double(input[$1, j]) } / Double(members.count)
                    variance = members.reduce(0.0) { $0 + pow(Double(input[$1, j]) - mean, 2) } / Double(members.count)
                }
                let a = Double(p.gamma[j]) * (scene >= 0 ? Double(p.sceneGamma[scene, j]) : 1)
                let c = Double(p.beta[j]) + (scene >= 0 ? Double(p.sceneBeta[scene, j]) : 0)
                out[r, j] = Float(a * (Double(input[r, j]) - mean) / (variance + epsilon).squareRoot() + c)
            }
        }
        return out
    }

    static func forward(_ p: PartitionedNormParameters, _ rowScenes: [Int32], _ input: Tensor, _ statistics: NormStatistics,
                        minimumRows: Int = 2) -> Tensor {
        var ws = PartitionedNormWorkspace(), out = Tensor(shape: [0, 1])
        PartitionedNorm.forward(p, rowScenes: rowScenes, input: input, statistics: statistics, epsilon: 1e-3, minimumRows: minimumRows,
                                workspace: &ws, output: &out)
        return out
    }

    @Test(arguments: [1, 2, 5, 8, 13])
    func `forward matches the naive per-row reference`(rows: Int) {
        let p = Self.parameters(seed: 3), scenes = Self.rowScenes(rows)
        let input = randomTensor([rows, Self.width], seed: 17).map { 2 * $0 + 0.5 }
        for statistics in [NormStatistics.batch, .running] {
            expectClose(Self.forward(p, scenes, input, statistics),
                        Self.reference(p, rowScenes: scenes, input: input, running: statistics == .running, epsilon: 1e-3),
                        rtol: 1e-4, atol: 1e-5, "\(rows) rows, \(statistics)")
        }
    }

    /// `minimumRows` 3: scene 0 (3 rows in 8) keeps its batch statistics, scene 2 (2 rows) takes
    /// its running ones; the pooled group (all 8 rows) keeps the batch's; and the backward agrees.
    @Test(arguments: [3, 4, 9])
    func `scenes with fewer than the minimum rows take their running statistics`(minimumRows: Int) {
        let p = Self.parameters(seed: 5), scenes = Self.rowScenes(8)
        let input = randomTensor([8, Self.width], seed: 19).map { 2 * $0 }
        expectClose(Self.forward(p, scenes, input, .batch, minimumRows: minimumRows),
                    Self.reference(p, rowScenes: scenes, input: input, running: false, epsilon: 1e-3, minimumRows: minimumRows),
                    rtol: 1e-4, atol: 1e-5, "minimum \(minimumRows)")
        let upstream = randomTensor([8, Self.width], seed: 2)
        var ws = PartitionedNormWorkspace(), out = Tensor(shape: [0, 1])
        PartitionedNorm.forward(p, rowScenes: scenes, input: input, statistics: .batch, epsilon: 1e-3, minimumRows: minimumRows,
                                workspace: &ws, output: &out)
        var dp = p.zeros(), dInput = Tensor(shape: input.shape)
        PartitionedNorm.backward(p, rowScenes: scenes, input: input, workspace: &ws, dOutput: upstream, gradients: &dp, dInput: &dInput)
        gradientCheck(dInput, of: { weightedSum(Self.forward(p, scenes, $0, .batch, minimumRows: minimumRows), upstream) }, at: input,
                      step: 1e-3, rtol: 1e-2, atol: 2e-3, "input, minimum \(minimumRows)")
    }

    @Test func `batch statistics make each scene's rows zero-mean unit-variance before its affine`() {
        var p = PartitionedNormParameters(scenes: Self.scenes, width: Self.width)
        let rows = 24, scenes = (0..<rows).map { Int32($0 % 3) }
        let input = randomTensor([rows, Self.width], seed: 5).map { 3 * $0 - 1 }
        let out = Self.forward(p, scenes, input, .batch)
        for s in 0..<3 {
            for j in 0..<Self.width {
                let values = (0..<rows).filter { Int(scenes[$0]) == s }.map { Double(out[$0, j]) }
                let mean = values.reduce(0, +) / Double(values.count)
                let variance = values.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
                #expect(abs(mean) < 1e-5 && abs(variance - 1) < 2e-3, "scene \(s) column \(j): mean \(mean), variance \(variance)")
            }
        }
        // A scene's own shift moves only its rows.
        let before = out
        p.sceneBeta[1, 2] = 0.75
        let after = Self.forward(p, scenes, input, .batch)
        for r in 0..<rows { #expect((after[r, 2] != before[r, 2]) == (scenes[r] == 1), "row \(r)") }
    }

    @Test(arguments: [1, 2, 5, 8, 13], [NormStatistics.batch, .running])
    func `backward matches finite differences in the input, gamma, beta and every scene's factors`(rows: Int, statistics: NormStatistics) {
        let p = Self.parameters(seed: 7), scenes = Self.rowScenes(rows)
        let input = randomTensor([rows, Self.width], seed: 23).map { 1.5 * $0 }
        let upstream = randomTensor([rows, Self.width], seed: 29)
        func loss(_ q: PartitionedNormParameters, _ x: Tensor) -> Double { weightedSum(Self.forward(q, scenes, x, statistics), upstream) }
        var ws = PartitionedNormWorkspace(), out = Tensor(shape: [0, 1])
        PartitionedNorm.forward(p, rowScenes: scenes, input: input, statistics: statistics, epsilon: 1e-3, workspace: &ws, output: &out)
        var dp = p.zeros(), dInput = Tensor(shape: input.shape)
        PartitionedNorm.backward(p, rowScenes: scenes, input: input, workspace: &ws, dOutput: upstream, gradients: &dp, dInput: &dInput)
        let note = "\(rows) rows, \(statistics)"
        gradientCheck(dInput, of: { loss(p, $0) }, at: input, step: 1e-3, rtol: 1e-2, atol: 2e-3, "input, \(note)")
        for field in PartitionedNormParameters.Field.allCases where !field.isStatistic {
            gradientCheck(dp[field], of: { probe in
                var q = p; q.withTensor(field) { $0 = probe }; return loss(q, input)
            }, at: p[field], step: 1e-2, rtol: 1e-2, atol: 1e-3, "\(field), \(note)")
        }
        #expect(dp.runningMean.maxAbs() == 0 && dp.runningVariance.maxAbs() == 0, "statistics get no gradient")
    }

    @Test func `the running update steps each scene and the pool from the merged sums of several shards`() {
        var p = Self.parameters(seed: 11)
        let start = p
        let rows = 20, scenes = Self.rowScenes(rows)
        let input = randomTensor([rows, Self.width], seed: 31).map { 2 * $0 + 1 }
        // Two shards (rows 0..<9, 9..<20), as two data-parallel workers would see them.
        var total = PartitionedNormSums()
        for range in [0..<9, 9..<20] {
            var ws = PartitionedNormWorkspace(), out = Tensor(shape: [0, 1])
            let shard = Tensor(shape: [range.count, Self.width], scalars: Array(input.scalars[(range.lowerBound * Self.width)..<(range.upperBound * Self.width)]))
            PartitionedNorm.forward(p, rowScenes: Array(scenes[range]), input: shard, statistics: .batch, epsilon: 1e-3, workspace: &ws, output: &out)
            total.add(ws.sums)
        }
        let m: Float = 0.9
        p.updateRunningStatistics(with: total, momentum: m)
        for g in 0...Self.scenes {
            let members = (0..<rows).filter { g < Self.scenes ? Int(scenes[$0]) == g : true }
            for j in 0..<Self.width {
                guard members.count >= 2 else {
                    #expect(p.runningMean[g, j] == start.runningMean[g, j] && p.runningVariance[g, j] == start.runningVariance[g, j])
                    continue
                }
                let mean = members.reduce(0.0) { $0 + Double(input[$1, j]) } / Double(members.count)
                let variance = members.reduce(0.0) { $0 + pow(Double(input[$1, j]) - mean, 2) } / Double(members.count - 1)
                #expect(abs(Double(p.runningMean[g, j]) - (0.9 * Double(start.runningMean[g, j]) + 0.1 * mean)) < 1e-5, "mean \(g) \(j)")
                #expect(abs(Double(p.runningVariance[g, j]) - (0.9 * Double(start.runningVariance[g, j]) + 0.1 * variance)) < 1e-4,
                        "variance \(g) \(j)")
            }
        }
        #expect(p.gamma == start.gamma && p.sceneBeta == start.sceneBeta, "the update moves statistics only")
    }

    @Test func `the inference affine equals the running-statistics forward`() {
        let p = Self.parameters(seed: 13), scenes = Self.rowScenes(11)
        let input = randomTensor([11, Self.width], seed: 37)
        let (scale, shift) = p.inferenceAffine(epsilon: 1e-3)
        var values = input
        PartitionedNorm.applyAffine(scale: scale, shift: shift, rowScenes: scenes, values: &values)
        expectClose(values, Self.forward(p, scenes, input, .running), rtol: 1e-5, atol: 1e-5)
    }

    // MARK: The network with partitioned norm

    static let layout = MultiTaskNetworkTests.layout
    static let tasks = MultiTaskNetworkTests.tasks
    /// Scene keys in categorical column 1 (`randomBatch` draws 1000 … 1004: 1003 and 1004 are unknown).
    static let norm = PartitionedNormalization(column: 1, sceneKeys: [1000, 1001, 1002], momentum: 0.9, epsilon: 1e-3)

    static func spec(_ architecture: NetworkSpec.Architecture, star: Bool = false) -> NetworkSpec {
        NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: [6, 5], towerWidths: [4],
                    taskCount: tasks.count, activation: .tanh,
                    starTowers: star ? StarTowers(column: 1, sceneKeys: [1000, 1001, 1002]) : nil, partitionedNorm: norm)
    }

    /// Parameters with every task's norm away from the identity.
    static func networkParameters(_ spec: NetworkSpec, seed: UInt64) -> ModelParameters {
        var parameters = ModelParameters(spec: spec, seed: seed)
        for k in parameters.partitionedNorm.indices {
            parameters.partitionedNorm[k] = Self.parameters(seed: seed + UInt64(10 * k), width: spec.metaWidth)
        }
        randomizeStarFactors(&parameters)
        return parameters
    }

    static func loss(_ parameters: ModelParameters, _ spec: NetworkSpec, _ batch: EncodedBatch, _ table: any EmbeddingTable,
                     firstLayer: FirstLayerEvaluation, statistics: NormStatistics) -> Double {
        var ws = NetworkWorkspace()
        ws.firstLayer = firstLayer
        ws.normStatistics = statistics
        MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: true, workspace: &ws)
        return MultiTaskNetwork.loss(batch: batch, tasks: tasks, workspace: &ws).total
    }

    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .sharedBottom], [1, 9])
    func `network gradients match finite differences through partitioned norm`(architecture: NetworkSpec.Architecture, rows: Int) {
        for star in [false, true] {
            let spec = Self.spec(architecture, star: star)
            let parameters = Self.networkParameters(spec, seed: 5)
            let batch = randomBatch(rows: rows, layout: Self.layout, tasks: Self.tasks, seed: 5)
            for firstLayer in MultiTaskNetworkTests.firstLayers {
                for statistics in [NormStatistics.batch, .running] {
                    let table = DictionaryEmbeddingTable(dimension: 4)
                    var ws = NetworkWorkspace()
                    ws.firstLayer = firstLayer
                    ws.normStatistics = statistics
                    var gradients = ModelParameters.zeros(like: parameters)
                    MultiTaskNetwork.forward(parameters, spec: spec, layout: Self.layout, batch: batch, table: table, createEmbeddings: true,
                                             workspace: &ws)
                    MultiTaskNetwork.loss(batch: batch, tasks: Self.tasks, workspace: &ws)
                    MultiTaskNetwork.backward(parameters, spec: spec, layout: Self.layout, batch: batch, gradients: &gradients, workspace: &ws)
                    var analytic: [String: Tensor] = [:]
                    gradients.forEachTensor { name, t in analytic[name] = t }
                    let note = "\(architecture), STAR \(star), \(rows) rows, \(firstLayer), \(statistics)"
                    parameters.forEachTensor { name, value in
                        // The running statistics are state (no gradient), constants of the running pass.
                        guard !name.hasSuffix("running_mean") && !name.hasSuffix("running_variance") else { return }
                        gradientCheck(analytic[name]!, of: { probe in
                            var p = parameters
                            p.updateEachTensor { n, t in if n == name { t = probe } }
                            return Self.loss(p, spec, batch, table, firstLayer: firstLayer, statistics: statistics)
                        }, at: value, step: 1e-2, rtol: 2e-2, atol: 2e-3, "\(name), \(note)")
                    }
                }
            }
        }
    }

    @Test func `the norm starts at the identity with batch statistics of each scene`() {
        let spec = Self.spec(.mmoe(experts: 2))
        let parameters = ModelParameters(spec: spec, seed: 4)
        #expect(parameters.partitionedNorm.count == Self.tasks.count)
        #expect(parameters.partitionedNorm.allSatisfy { $0 == PartitionedNormParameters(scenes: 3, width: spec.metaWidth) })
        let names = ModelParameters.zeros(like: parameters).tensorPaths.map(\.name)
        #expect(names.contains("partitioned_norm.1.running_variance") && names.contains("partitioned_norm.0.scene_gamma"))
    }
}

/// Serving's bottom with partitioned norm: ``PackedBottom`` then the running statistics' affine
/// equals the training bottom in `.running` mode.
@Suite struct PartitionedNormPackedBottomTests {
    @Test(arguments: [NetworkSpec.Architecture.mmoe(experts: 3), .sharedBottom], [[24], [9, 16]])
    func `packed bottom with partitioned norm equals forwardBottom with running statistics`(architecture: NetworkSpec.Architecture,
                                                                                            widths: [Int]) {
        let layout = PartitionedNormTests.layout, tasks = PartitionedNormTests.tasks
        for rowBlocks in [true, false] {
            let spec = NetworkSpec(architecture: architecture, inputWidth: layout.width, bottomWidths: widths, towerWidths: [4],
                                   taskCount: tasks.count, activation: .relu, partitionedNorm: PartitionedNormTests.norm)
            var parameters = ModelParameters(spec: spec, seed: 17)
            for k in parameters.partitionedNorm.indices {
                parameters.partitionedNorm[k] = PartitionedNormTests.parameters(seed: 40 + UInt64(k), width: spec.metaWidth)
            }
            let table = DictionaryEmbeddingTable(dimension: 4)
            for rows in [29, 5, 1] {
                let batch = randomBatch(rows: rows, layout: layout, tasks: tasks, seed: UInt64(rows))
                var reference = NetworkWorkspace()
                MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: layout, batch: batch, table: table,
                                               createEmbeddings: true, workspace: &reference)
                var packed = NetworkWorkspace()
                PackedBottom(parameters, spec: spec).forward(batch: batch, layout: layout, table: table, workspace: &packed, rowBlocks: rowBlocks)
                for k in 0..<spec.taskCount {
                    expectClose(packed.meta[k], reference.meta[k], rtol: 1e-5, atol: 1e-5,
                                "\(architecture) \(widths) blocks \(rowBlocks) \(rows) rows task \(k)")
                }
                // ... and not the batch-statistics pass (the test sees which statistics serving used).
                var training = NetworkWorkspace()
                training.normStatistics = .batch
                MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: layout, batch: batch, table: table,
                                               createEmbeddings: true, workspace: &training)
                if rows > 5 { #expect(maxRelativeError(packed.meta[0], training.meta[0]) > 1e-2, "\(rows) rows") }
            }
        }
    }
}
