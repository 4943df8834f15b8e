import MetaTrain
import ModelDescription
import ModelMath
import TensorCore
import TestSupport
import Testing

/// The training step: data-parallel sums equal the single-thread gradient, and the full
/// objective L_base + λ·L_meta is differentiated correctly end to end (bottom included).
@Suite struct DataParallelStepTests {
    static let layout = InputLayout(categoricalCount: 2, multiCategoricalPooling: [.sum], numericCount: 2, embeddingDimension: 3)
    static let tasks = [TaskSpec(name: "click", kind: .binary, weight: 1), TaskSpec(name: "rating", kind: .regression, weight: 0.5)]
    static let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [5, 4],
                                  towerWidths: [3], taskCount: 2, activation: .tanh)

    static func meta(_ order: MetaOrder, byTime: Bool) -> MetaLearning {
        MetaLearning(splitter: TaskSplitter(minimumRows: 3, supportFraction: 0.5, splitsByTime: byTime),
                     adaptation: Adaptation(steps: 2, learningRate: 0.3), order: order, weight: 0.7)
    }

    static func total(_ losses: DataParallelStep.Losses, meta: MetaLearning?) -> Double {
        var total = 0.0
        for (k, task) in tasks.enumerated() where !losses.base[k].isNaN { total += Double(task.weight) * losses.base[k] }
        if let meta, !losses.meta.isNaN { total += Double(meta.weight) * losses.meta }
        return total
    }

    @Test(arguments: [nil, MetaOrder.first, .second])
    func `two workers give the single-thread gradient`(order: MetaOrder?) {
        let parameters = ModelParameters(spec: Self.spec, seed: 3)
        let batch = randomBatch(rows: 24, layout: Self.layout, tasks: Self.tasks, taskKeys: 5, seed: 4)
        let meta = order.map { Self.meta($0, byTime: true) }
        let table = DictionaryEmbeddingTable(dimension: 3)
        let one = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 1, meta: meta, like: parameters)
        let two = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 2, meta: meta, like: parameters)
        let l1 = one.compute(parameters: parameters, batch: batch, table: table)
        let l2 = two.compute(parameters: parameters, batch: batch, table: table)
        expectClose(Self.total(l1, meta: meta), Self.total(l2, meta: meta), rtol: 1e-6)
        #expect(l1.metaTasks == l2.metaTasks)
        if meta != nil { #expect(l1.metaTasks > 0) }
        for ((name, a), (_, b)) in zip(one.gradients.namedTensors, two.gradients.namedTensors) {
            expectClose(b, a, rtol: 1e-4, atol: 1e-6, name)
        }
        var byKey: [UInt64: [Float]] = [:]
        for (u, key) in one.embeddingKeys.enumerated() { byKey[key] = Array(one.embeddingGradients[(u * 3)..<((u + 1) * 3)]) }
        #expect(Set(two.embeddingKeys) == Set(byKey.keys))
        for (u, key) in two.embeddingKeys.enumerated() {
            expectClose(Tensor(shape: [3], scalars: Array(two.embeddingGradients[(u * 3)..<((u + 1) * 3)])),
                        Tensor(shape: [3], scalars: byKey[key]!), rtol: 1e-4, atol: 1e-6, "embedding row")
        }
    }

    /// Tensors of ≥ 2 · 4096 elements are summed by several threads, each on one range: a wide
    /// first layer (49 × 200 = 9800, not a multiple of 3 · 16) takes that path, the small
    /// tensors the single-range one. Two batches in a row, so a range left unsummed would keep
    /// the first batch's values and show.
    @Test(arguments: [2, 3])
    func `the gradient sum split across threads equals the single-thread gradient`(threads: Int) {
        let layout = InputLayout(categoricalCount: 3, multiCategoricalPooling: [.mean], numericCount: 5, embeddingDimension: 11)
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: layout.width, bottomWidths: [200, 4],
                               towerWidths: [3], taskCount: 2, activation: .relu)
        #expect(layout.width * 200 >= 2 * 4096)
        let parameters = ModelParameters(spec: spec, seed: 21)
        let table = DictionaryEmbeddingTable(dimension: 11)
        let one = DataParallelStep(spec: spec, layout: layout, tasks: Self.tasks, threads: 1, like: parameters)
        let many = DataParallelStep(spec: spec, layout: layout, tasks: Self.tasks, threads: threads, like: parameters)
        for seed in [22, 23] as [UInt64] {
            let batch = randomBatch(rows: 40, layout: layout, tasks: Self.tasks, taskKeys: 7, seed: seed)
            one.compute(parameters: parameters, batch: batch, table: table)
            many.compute(parameters: parameters, batch: batch, table: table)
            #expect(many.gradients.experts[0].layers[0].weight.maxAbs() > 0)
            for ((name, a), (_, b)) in zip(one.gradients.namedTensors, many.gradients.namedTensors) {
                expectClose(b, a, rtol: 1e-4, atol: 1e-6, "batch \(seed): \(name)")
            }
        }
    }

    /// The embedding merge is lazy: whatever the order of computes, reads and pushes, the keys
    /// and gradients read (and pushed) are those of the last batch, merged once.
    @Test func `the lazy embedding merge always reflects the last batch`() {
        let parameters = ModelParameters(spec: Self.spec, seed: 41)
        let big = randomBatch(rows: 24, layout: Self.layout, tasks: Self.tasks, taskKeys: 5, seed: 42)
        let single = randomBatch(rows: 1, layout: Self.layout, tasks: Self.tasks, taskKeys: 1, seed: 43)
        let table = DictionaryEmbeddingTable(dimension: 3)
        func reference(_ batch: EncodedBatch) -> [UInt64: [Float]] {
            let step = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 1, like: parameters)
            step.compute(parameters: parameters, batch: batch, table: table)
            return Self.gradientsByKey(step)
        }
        let (bigReference, singleReference) = (reference(big), reference(single))
        let step = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 2, like: parameters)
        // Two parts, read; then one part (a 1-row batch), read: no keys of the first batch remain.
        step.compute(parameters: parameters, batch: big, table: table)
        Self.expectSameGradients(Self.gradientsByKey(step), bigReference)
        step.compute(parameters: parameters, batch: single, table: table)
        Self.expectSameGradients(Self.gradientsByKey(step), singleReference)
        // Two parts computed twice without a read, then read twice: one merge, same answer.
        step.compute(parameters: parameters, batch: big, table: table)
        step.compute(parameters: parameters, batch: big, table: table)
        Self.expectSameGradients(Self.gradientsByKey(step), bigReference)
        Self.expectSameGradients(Self.gradientsByKey(step), bigReference)
        // A push after a read, and a one-part push without one, apply the same rows as a
        // single-thread step's push.
        for (batch, readFirst) in [(big, true), (single, false)] {
            let pushed = DictionaryEmbeddingTable(dimension: 3, learningRate: 1), expected = DictionaryEmbeddingTable(dimension: 3, learningRate: 1)
            let alone = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 1, like: parameters)
            alone.compute(parameters: parameters, batch: batch, table: expected)
            alone.pushEmbeddingGradients(to: expected)
            step.compute(parameters: parameters, batch: batch, table: pushed)
            if readFirst { _ = step.embeddingKeys }
            step.pushEmbeddingGradients(to: pushed)
            for key in Self.gradientsByKey(alone).keys {
                expectClose(Tensor(shape: [3], scalars: pushed.row(key) ?? []), Tensor(shape: [3], scalars: expected.row(key) ?? []),
                            rtol: 1e-4, atol: 1e-6, "pushed row")
            }
        }
    }

    static func gradientsByKey(_ step: DataParallelStep) -> [UInt64: [Float]] {
        let (keys, gradients) = (step.embeddingKeys, step.embeddingGradients)
        #expect(gradients.count == keys.count * 3)
        #expect(Set(keys).count == keys.count, "merged keys are unique")
        var byKey: [UInt64: [Float]] = [:]
        for (u, key) in keys.enumerated() { byKey[key] = Array(gradients[(u * 3)..<((u + 1) * 3)]) }
        return byKey
    }

    static func expectSameGradients(_ actual: [UInt64: [Float]], _ expected: [UInt64: [Float]]) {
        #expect(Set(actual.keys) == Set(expected.keys))
        for (key, row) in expected {
            expectClose(Tensor(shape: [3], scalars: actual[key] ?? []), Tensor(shape: [3], scalars: row), rtol: 1e-4, atol: 1e-6, "row \(key)")
        }
    }

    /// `applyUpdate` reads the next batch on a helper while Adam and the embedding push run:
    /// the weights and rows after three steps are those of the plain sequence (update, then
    /// read), with one thread or two, and a stream error comes back after the update.
    @Test func `applyUpdate overlaps reading the next batch and changes nothing else`() throws {
        let batches = (0..<3).map { randomBatch(rows: 20, layout: Self.layout, tasks: Self.tasks, taskKeys: 4, seed: 30 + UInt64($0)) }
        let start = ModelParameters(spec: Self.spec, seed: 31)
        func train(threads: Int, overlapped: Bool) throws -> (ModelParameters, DictionaryEmbeddingTable, Int) {
            var parameters = start
            var adam = DenseOptimizer(like: parameters, learningRate: 0.01)
            let table = DictionaryEmbeddingTable(dimension: 3)
            let step = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: threads, like: parameters)
            var stream = ListStream(batches: batches)
            var upcoming = try stream.next()
            var steps = 0
            while let batch = upcoming {
                step.compute(parameters: parameters, batch: batch, table: table)
                if overlapped {
                    upcoming = try step.applyUpdate(optimizer: &adam, parameters: &parameters, table: table,
                                                    readingNextFrom: &stream).get()
                } else {
                    adam.update(&parameters, gradients: step.gradients)
                    step.pushEmbeddingGradients(to: table)
                    upcoming = try stream.next()
                }
                steps += 1
            }
            return (parameters, table, steps)
        }
        let (reference, referenceTable, referenceSteps) = try train(threads: 1, overlapped: false)
        #expect(referenceSteps == 3)
        for threads in [1, 2] {
            let (parameters, table, steps) = try train(threads: threads, overlapped: true)
            #expect(steps == 3)
            for ((name, a), (_, b)) in zip(reference.namedTensors, parameters.namedTensors) {
                expectClose(b, a, rtol: 1e-4, atol: 1e-6, "\(threads) threads: \(name)")
            }
            for key in batches[0].categorical.prefix(6) {
                let (a, b) = (referenceTable.row(key), table.row(key))
                #expect(a != nil && b != nil)
                expectClose(Tensor(shape: [3], scalars: b ?? []), Tensor(shape: [3], scalars: a ?? []), rtol: 1e-4, atol: 1e-6)
            }
        }
        // A failing read is handed back, after the update it overlapped was applied.
        var parameters = start
        var adam = DenseOptimizer(like: parameters, learningRate: 0.01)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 2, like: parameters)
        step.compute(parameters: parameters, batch: batches[0], table: table)
        var failing = ListStream(batches: [], failure: ListStream.Failure())
        let next = step.applyUpdate(optimizer: &adam, parameters: &parameters, table: table, readingNextFrom: &failing)
        #expect(throws: ListStream.Failure.self) { try next.get() }
        #expect(adam.step == 1)
        #expect(parameters.experts[0].layers[0].weight != start.experts[0].layers[0].weight)
    }

    /// Second order is the exact gradient of L; first order is checked against its own
    /// definition in `AdaptationTests`.
    @Test func `the meta objective's gradient matches finite differences through the shared bottom`() {
        let order = MetaOrder.second
        let parameters = ModelParameters(spec: Self.spec, seed: 8)
        let batch = randomBatch(rows: 16, layout: Self.layout, tasks: Self.tasks, taskKeys: 3, seed: 9)
        let meta = Self.meta(order, byTime: false)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: Self.spec, layout: Self.layout, tasks: Self.tasks, threads: 1, meta: meta, like: parameters)
        let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: 5)
        #expect(losses.metaTasks == 3)
        // An expert (φ, reached by the meta-gradient through f of query and support rows),
        // a gate (φ) and a tower (θ).
        Self.expectFiniteDifferences(step.gradients, at: parameters, spec: Self.spec, meta: meta, batch: batch, table: table,
                                     paths: [\.experts[0].layers[0].weight, \.gates[1].weight, \.towers[0].layers[0].weight])
    }

    /// Central differences of the whole step's loss `L_base + λ·L_meta` (split seed 5) against
    /// `analytic` on each tensor of `paths` (relative error < 2e-3).
    static func expectFiniteDifferences(
        _ analytic: ModelParameters, at parameters: ModelParameters, spec: NetworkSpec, meta: MetaLearning,
        batch: EncodedBatch, table: DictionaryEmbeddingTable, paths: [WritableKeyPath<ModelParameters, Tensor>]
    ) {
        func objective(_ p: ModelParameters) -> Double {
            let probe = DataParallelStep(spec: spec, layout: layout, tasks: tasks, threads: 1, meta: meta, like: p)
            return total(probe.compute(parameters: p, batch: batch, table: table, splitSeed: 5), meta: meta)
        }
        for path in paths {
            let numeric = numericalGradient(of: { probe in
                var p = parameters
                p[keyPath: path] = probe
                return objective(p)
            }, at: parameters[keyPath: path])
            let error = ((analytic[keyPath: path] - numeric).squaredNorm() / max(numeric.squaredNorm(), 1e-30)).squareRoot()
            #expect(error < 2e-3, "\(path): relative error \(error)")
        }
    }

    /// STAR towers: each task adapts its scene's `θ_eff,s = (W ⊙ W_s, b + b_s)`, and the
    /// meta-gradient reaches `W` and `W_s` by the product rule; second order is the exact
    /// gradient of `L_base + λ·L_meta`. Tasks in one scene each (one of them unknown), and
    /// tasks whose rows span scenes (adapted on their majority scene's tower).
    @Test(arguments: [true, false])
    func `the meta objective's gradient reaches the shared towers and the STAR scene factors`(scenePerTask: Bool) {
        var spec = Self.spec
        spec.starTowers = StarTowers(column: 1, sceneKeys: [1000, 1001, 1002])
        var parameters = ModelParameters(spec: spec, seed: 8)
        randomizeStarFactors(&parameters)
        var batch = randomBatch(rows: 16, layout: Self.layout, tasks: Self.tasks, taskKeys: 3, seed: 9)
        if scenePerTask {
            for b in 0..<batch.count { batch.categorical[b * 2 + 1] = [1000, 1002, 1004][Int(batch.taskKeys[b])] }
        }
        let meta = Self.meta(.second, byTime: false)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: spec, layout: Self.layout, tasks: Self.tasks, threads: 2, meta: meta, like: parameters)
        let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: 5)
        #expect(losses.metaTasks == 3)
        let paths: [WritableKeyPath<ModelParameters, Tensor>] = [
            \.starTowers[0][0].layers[0].weight, \.starTowers[1][2].layers[1].bias, \.starTowers[0][2].layers[1].weight,
            \.towers[0].layers[0].weight, \.towers[1].layers[1].bias, \.experts[0].layers[0].weight,
        ]
        Self.expectFiniteDifferences(step.gradients, at: parameters, spec: spec, meta: meta, batch: batch, table: table, paths: paths)
    }

    /// Scene experts with a gate per task and scene: the second-order meta-gradient reaches the
    /// scene experts and gates through `f` of the query and support rows (scenes of rows mixed
    /// within a task, one scene unknown), on one worker and split over two.
    @Test(arguments: [1, 2])
    func `the meta objective's gradient reaches per-scene gates and scene experts`(threads: Int) {
        let scenes = SceneExperts(column: 1, sceneKeys: [1000, 1001, 1002], shared: 1, perScene: 1, gates: .perScene)
        let spec = NetworkSpec(architecture: .mmoe(experts: scenes.expertCount), inputWidth: Self.layout.width, bottomWidths: [5, 4],
                               towerWidths: [3], taskCount: 2, activation: .tanh, sceneExperts: scenes)
        let parameters = ModelParameters(spec: spec, seed: 8)
        var batch = randomBatch(rows: 16, layout: Self.layout, tasks: Self.tasks, taskKeys: 3, seed: 9)
        for b in 0..<batch.count { batch.categorical[b * 2 + 1] = [1000, 1001, 1002, 1004][b % 4] }
        let meta = Self.meta(.second, byTime: false)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: spec, layout: Self.layout, tasks: Self.tasks, threads: threads, meta: meta, like: parameters)
        let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: 5)
        #expect(losses.metaTasks == 3)
        let paths: [WritableKeyPath<ModelParameters, Tensor>] = [
            \.sceneGates[0][1].weight, \.sceneGates[1][2].bias, \.gates[0].weight, \.experts[2].layers[0].weight,
            \.experts[0].layers[1].bias, \.towers[0].layers[0].weight,
        ]
        Self.expectFiniteDifferences(step.gradients, at: parameters, spec: spec, meta: meta, batch: batch, table: table, paths: paths)
    }

    /// With Meta-SGD multipliers the step also differentiates L in ρ (only the meta loss depends
    /// on it), for both orders: first order is exact in ρ for one inner step.
    @Test(arguments: [MetaOrder.first, .second])
    func `learned inner rates get the finite-difference gradient`(order: MetaOrder) {
        var spec = Self.spec
        spec.learnsInnerRates = true
        var parameters = ModelParameters(spec: spec, seed: 12)
        parameters.innerRates[1].layers[0].weight.fill(0.8)  // away from the all-ones start
        let batch = randomBatch(rows: 16, layout: Self.layout, tasks: Self.tasks, taskKeys: 3, seed: 13)
        let meta = MetaLearning(splitter: TaskSplitter(minimumRows: 3, supportFraction: 0.5, splitsByTime: false),
                                adaptation: Adaptation(steps: order == .first ? 1 : 2, learningRate: 0.3),
                                order: order, weight: 0.7)
        let table = DictionaryEmbeddingTable(dimension: 3)
        let step = DataParallelStep(spec: spec, layout: Self.layout, tasks: Self.tasks, threads: 2, meta: meta, like: parameters)
        let losses = step.compute(parameters: parameters, batch: batch, table: table, splitSeed: 5)
        #expect(losses.metaTasks >= 2)
        let paths: [WritableKeyPath<ModelParameters, Tensor>] = [\.innerRates[0].layers[0].weight, \.innerRates[1].layers[1].bias]
        for path in paths { #expect(step.gradients[keyPath: path].maxAbs() > 0, "\(path) gets a gradient") }
        Self.expectFiniteDifferences(step.gradients, at: parameters, spec: spec, meta: meta, batch: batch, table: table, paths: paths)
    }
}

@Suite struct TaskSplitterTests {
    static let layout = InputLayout(categoricalCount: 1, multiCategoricalPooling: [], numericCount: 1, embeddingDimension: 2)
    static let tasks = [TaskSpec(name: "y", kind: .binary)]

    @Test func `grouping does not depend on the order of rows in the batch`() {
        let batch = randomBatch(rows: 40, layout: Self.layout, tasks: Self.tasks, taskKeys: 6, seed: 1)
        let splitter = TaskSplitter(minimumRows: 4, supportFraction: 0.5, splitsByTime: true)
        var rng = SeededRandom(seed: 1)
        let tasks = splitter.tasks(of: batch, rng: &rng)
        var order = Array(0..<batch.count)
        var shuffler = SeededRandom(seed: 99)
        order.shuffle(using: &shuffler)
        let permuted = batch.selecting(rows: order)
        let tasksPermuted = splitter.tasks(of: permuted, rng: &rng)
        #expect(tasks.map(\.key) == tasksPermuted.map(\.key))
        for (a, b) in zip(tasks, tasksPermuted) {
            // Same rows (identified by timestamp, unique here), same split.
            #expect(a.support.map { batch.timestamps[$0] } == b.support.map { permuted.timestamps[$0] })
            #expect(a.query.map { batch.timestamps[$0] } == b.query.map { permuted.timestamps[$0] })
        }
    }

    @Test func `time split puts earlier rows in support and never leaves a side empty`() {
        let batch = randomBatch(rows: 30, layout: Self.layout, tasks: Self.tasks, taskKeys: 4, seed: 2)
        for fraction in [0.01, 0.5, 0.99] {
            var rng = SeededRandom(seed: 3)
            for task in TaskSplitter(minimumRows: 2, supportFraction: fraction, splitsByTime: true).tasks(of: batch, rng: &rng) {
                #expect(!task.support.isEmpty && !task.query.isEmpty)
                #expect(task.support.map { batch.timestamps[$0] }.max()! <= task.query.map { batch.timestamps[$0] }.min()!)
                #expect(Set(task.support).isDisjoint(with: task.query))
            }
        }
    }

    @Test func `edge cases: one task, only singletons, too-small tasks`() {
        var rng = SeededRandom(seed: 4)
        let one = randomBatch(rows: 5, layout: Self.layout, tasks: Self.tasks, taskKeys: 1, seed: 5)
        let single = TaskSplitter(minimumRows: 2, supportFraction: 0.5, splitsByTime: false).tasks(of: one, rng: &rng)
        #expect(single.count == 1 && single[0].support.count + single[0].query.count == 5)
        var singletons = one
        singletons.taskKeys = [1, 2, 3, 4, 5]
        #expect(TaskSplitter(minimumRows: 2, supportFraction: 0.5, splitsByTime: false).tasks(of: singletons, rng: &rng).isEmpty)
        // A task of two rows with minimum 1 is still split 1/1 (the minimum is raised to 2).
        var pair = one.selecting(rows: [0, 1])
        pair.taskKeys = [7, 7]
        let split = TaskSplitter(minimumRows: 1, supportFraction: 0.9, splitsByTime: true).tasks(of: pair, rng: &rng)
        #expect(split.count == 1 && split[0].support.count == 1 && split[0].query.count == 1)
    }
}

/// Batches from a list, then optionally an error.
private struct ListStream: BatchStream {
    struct Failure: Error {}
    var batches: [EncodedBatch]
    var failure: Failure? = nil
    var index = 0
    mutating func next() throws -> EncodedBatch? {
        if index < batches.count {
            index += 1
            return batches[index - 1]
        }
        if let failure { throw failure }
        return nil
    }
}
