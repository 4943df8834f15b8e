import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import TestSupport
import Testing

/// Partitioned norm in training: the meta objective's gradient through the batch statistics
/// (MAML's support and query rows are normalised with them), the workers' sums merged into one
/// running update, and a tiny model trained end to end and evaluated with its running statistics.
@Suite struct PartitionedNormTrainingTests {
    static let norm = PartitionedNormalization(column: 1, sceneKeys: [1000, 1001, 1002], momentum: 0.8, epsilon: 1e-3)

    static func normed(star: Bool) -> NetworkSpec {
        var spec = DataParallelStepTests.spec
        spec.partitionedNorm = norm
        if star { spec.starTowers = StarTowers(column: 1, sceneKeys: [1000, 1001, 1002]) }
        return spec
    }

    static func parameters(_ spec: NetworkSpec, seed: UInt64) -> ModelParameters {
        var parameters = ModelParameters(spec: spec, seed: seed)
        for k in parameters.partitionedNorm.indices {
            parameters.partitionedNorm[k].gamma = randomTensor([spec.metaWidth], seed: seed + 1).map { 1 + 0.3 * $0 }
            parameters.partitionedNorm[k].sceneGamma = randomTensor([3, spec.metaWidth], seed: seed + 2).map { 1 + 0.3 * $0 }
            parameters.partitionedNorm[k].sceneBeta = randomTensor([3, spec.metaWidth], seed: seed + 3, scale: 0.3)
        }
        randomizeStarFactors(&parameters)
        return parameters
    }

    /// Second order is the exact gradient of `L_base + λ·L_meta`, with the support and query
    /// rows' `f'` functions of the batch statistics (one worker: the objective's).
    @Test(arguments: [false, true])
    func `the meta objective's gradient matches finite differences through partitioned norm`(star: Bool) {
        let spec = Self.normed(star: star)
        let parameters = Self.parameters(spec, seed: 8)
        let batch = randomBatch(rows: 16, layout: DataParallelStepTests.layout, tasks: DataParallelStepTests.tasks, taskKeys: 3, seed: 9)
        let meta = DataParallelStepTests.meta(.second, byTime: false)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: spec, layout: DataParallelStepTests.layout, tasks: DataParallelStepTests.tasks, threads: 1,
                                    meta: meta, like: parameters)
        let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: 5)
        #expect(losses.metaTasks == 3)
        var paths: [WritableKeyPath<ModelParameters, Tensor>] = [
            \.partitionedNorm[0].gamma, \.partitionedNorm[1].beta, \.partitionedNorm[0].sceneGamma, \.partitionedNorm[1].sceneBeta,
            \.towers[0].layers[0].weight, \.experts[0].layers[0].weight, \.gates[1].weight,
        ]
        if star { paths.append(\.starTowers[0][1].layers[0].weight) }
        DataParallelStepTests.expectFiniteDifferences(step.gradients, at: parameters, spec: spec, meta: meta, batch: batch,
                                                      table: table, paths: paths)
        #expect(step.gradients.partitionedNorm.allSatisfy { $0.runningMean.maxAbs() == 0 && $0.runningVariance.maxAbs() == 0 })
    }

    /// Workers normalise with their own shard's statistics; their sums add up to the whole
    /// batch's, so the running statistics step as with one worker, once per step, and the
    /// optimiser leaves them alone otherwise.
    @Test func `the running statistics step once from every worker's rows`() throws {
        let spec = Self.normed(star: false)
        let start = Self.parameters(spec, seed: 21)
        let batch = randomBatch(rows: 30, layout: DataParallelStepTests.layout, tasks: DataParallelStepTests.tasks, taskKeys: 5, seed: 4)
        var results: [ModelParameters] = []
        for threads in [1, 3] {
            let table = DictionaryEmbeddingTable(dimension: 3)  // fresh: the update pushes embedding gradients
            var parameters = start
            let step = DataParallelStep(spec: spec, layout: DataParallelStepTests.layout, tasks: DataParallelStepTests.tasks,
                                        threads: threads, like: parameters)
            step.compute(parameters: parameters, batch: batch, table: table)
            #expect(step.normSums.count == 2 && step.normSums[0].counts.reduce(0, +) == 30, "\(threads) threads")
            var optimizer = DenseOptimizer(like: parameters, learningRate: 0.1, rule: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1))
            var stream = EmptyStream()
            _ = step.applyUpdate(optimizer: &optimizer, parameters: &parameters, table: table, readingNextFrom: &stream)
            results.append(parameters)
        }
        // The reference: the whole batch's bottom, then the update from its sums.
        var ws = NetworkWorkspace()
        ws.normStatistics = .batch
        MultiTaskNetwork.forwardBottom(start, spec: spec, layout: DataParallelStepTests.layout, batch: batch,
                                       table: DictionaryEmbeddingTable(dimension: 3), createEmbeddings: true, workspace: &ws)
        var expected = start
        expected.updateRunningStatistics(with: ws.norm.map(\.sums), momentum: 0.8)
        for (i, parameters) in results.enumerated() {
            for k in 0..<2 {
                expectClose(parameters.partitionedNorm[k].runningMean, expected.partitionedNorm[k].runningMean, rtol: 1e-4, atol: 1e-5, "run \(i) task \(k)")
                expectClose(parameters.partitionedNorm[k].runningVariance, expected.partitionedNorm[k].runningVariance, rtol: 1e-4, atol: 1e-5,
                            "run \(i) task \(k)")
                #expect(parameters.partitionedNorm[k].runningMean != start.partitionedNorm[k].runningMean, "the statistics moved")
                #expect(parameters.partitionedNorm[k].gamma != start.partitionedNorm[k].gamma, "the factors were trained")
            }
        }
    }

    @Test func `a model with partitioned norm trains with MAML and evaluates with its running statistics`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-pn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        try SceneSyntheticDataset.write(try SceneSyntheticConfig(scenes: 4, zipfExponent: 1.5, users: 80, rows: 3_000, seed: 3), to: data)
        var config = try ModelConfig.load(yamlFile: data + "/config.yaml")
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.model.starTowers = .init(scenes: ["s01", "s02", "s03"])
        config.model.partitionedNorm = .init(scenes: ["s01", "s02", "s03"], momentum: 0.9)  // s04: shared affine, pooled statistics
        config.training.epochs = 1
        config.training.threads = 2
        config.meta.enabled = true
        try config.validate()
        let configPath = try TrainingFixture.writeConfig(config, in: dir)
        try TrainingJob(configPath: configPath, trainingPath: data + "/train.csv", validationPath: nil, outputDirectory: dir + "/model")
            .run(progress: ProgressReporter(quiet: true))

        let loaded = try LoadedModel(path: dir + "/model")
        let norms = loaded.parameters.partitionedNorm
        #expect(norms.count == 2 && norms.allSatisfy { $0.sceneCount == 3 })
        #expect(norms.allSatisfy { n in n.runningMean.scalars.contains { $0 != 0 } && n.runningVariance.scalars.contains { $0 != 1 } },
                "the running statistics were saved after training")
        #expect(norms.allSatisfy { n in n.sceneGamma.scalars.contains { $0 != 1 } }, "the scene scales were trained")

        // Evaluation's network pass (running statistics) and the fine-tuned evaluation's base towers
        // (forwardBottom, then each task's tower) score alike.
        let (network, perTask) = try TrainingFixture.baseScoresBothWays(modelPath: dir + "/model", dataPath: data + "/test.csv")
        #expect(network.keys.sorted() == perTask.keys.sorted() && !network.isEmpty)
        var worst = 0.0
        for (key, scores) in network {
            for (a, b) in zip(scores, perTask[key]!) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst < 1e-5, "the network pass and the per-task towers score alike (worst \(worst))")
    }
}

/// A stream with no batches (``DataParallelStep/applyUpdate(optimizer:parameters:table:readingNextFrom:)`` reads one).
struct EmptyStream: BatchStream {
    mutating func next() throws -> EncodedBatch? { nil }
}
