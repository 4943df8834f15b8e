import ModelDescription
import ModelMath
import TensorCore

/// One training step's gradient, computed data-parallel over worker threads:
///
/// ```
/// L = L_base + λ · L_meta          (L_meta only when meta-learning is on)
/// ```
///
/// The batch is cut into `T` shards; with meta-learning on, every in-batch task's rows stay in
/// one shard (tasks are assigned to the least-loaded shard). Each worker runs forward, base
/// loss, tower backward, the MAML meta-gradients of its tasks, and the bottom backward with its
/// own workspace and gradient accumulator. Every normaliser is global (labelled rows per task
/// over the whole batch, `U` tasks over the whole batch), so the sum of the workers' gradients
/// is exactly the batch gradient, whatever `T`. Embedding-row gradients are merged by key.
///
/// Threading: `compute` and `applyUpdate` block their caller and run on the step's
/// ``WorkerPool`` of `T` threads (the caller and `T − 1` helpers); not for concurrent callers.
public final class DataParallelStep: @unchecked Sendable {
    public let spec: NetworkSpec
    public let layout: InputLayout
    public let tasks: [TaskSpec]
    public let threads: Int
    public let meta: MetaLearning?
    private var workers: [Worker]
    /// The threads the workers run on (the caller is worker 0); also splits the gradient sum
    /// and overlaps the update with reading the next batch (``applyUpdate(optimizer:parameters:table:readingNextFrom:)``).
    public let pool: WorkerPool
    /// Embedding key → row of the merged gradient, reused across steps.
    private var mergeSlots = KeySlots()
    /// ``ModelParameters/tensorSlots`` of the parameters, built once.
    private let tensorSlots: [ModelParameters.TensorSlot]

    /// The summed dense gradient of the last ``compute(parameters:batch:table:splitSeed:)``.
    public private(set) var gradients: ModelParameters
    /// Partitioned norm: the last step's batch sums per task, added over the workers (empty
    /// without partitioned norm); ``applyUpdate(optimizer:parameters:table:readingNextFrom:)``
    /// steps the running statistics with them.
    public private(set) var normSums: [PartitionedNormSums] = []
    /// Unique embedding keys of the last batch and their summed `(U, d)` gradients, merged from
    /// the workers on first use (so the merge overlaps reading the next batch in
    /// ``applyUpdate(optimizer:parameters:table:readingNextFrom:)``). The first read merges:
    /// like ``compute(parameters:batch:table:splitSeed:)``, it is not for concurrent callers.
    public var embeddingKeys: [UInt64] {
        mergeEmbeddingGradients()
        return mergedKeys
    }
    public var embeddingGradients: [Float] {
        mergeEmbeddingGradients()
        return mergedGradients
    }
    private var mergedKeys: [UInt64] = []
    private var mergedGradients: [Float] = []
    /// Workers of the last step whose embedding gradients are not merged yet (0 once merged).
    private var unmergedParts = 0

    /// Losses of one step: per-task base losses (NaN without labels), the meta loss
    /// (NaN without meta tasks) and the number of meta tasks.
    public struct Losses: Sendable {
        public var base: [Double]
        public var meta: Double
        public var metaTasks: Int
    }

    final class Worker: @unchecked Sendable {
        var workspace = NetworkWorkspace()
        var tower = TowerWorkspace()
        var gradients: ModelParameters
        var baseLossSums: [Double] = []
        var metaLossSum = 0.0
        var support = Tensor(shape: [0, 1]), query = Tensor(shape: [0, 1])
        var supportLabels = Tensor(shape: [0]), queryLabels = Tensor(shape: [0])
        /// STAR: `θ_eff,s` of task `k` and scene `s`, `[k][s]`, for this step's meta tasks.
        var effectiveTowers: [[MLPParameters]] = []
        init(gradients: ModelParameters) { self.gradients = gradients }
    }

    public init(spec: NetworkSpec, layout: InputLayout, tasks: [TaskSpec], threads: Int, meta: MetaLearning? = nil,
                like parameters: ModelParameters) {
        precondition(threads >= 1, "DataParallelStep: threads must be >= 1, got \(threads)")
        self.spec = spec
        self.layout = layout
        self.tasks = tasks
        self.threads = threads
        self.meta = meta
        self.workers = (0..<threads).map { _ in Worker(gradients: .zeros(like: parameters)) }
        self.pool = WorkerPool(threads: threads)
        self.gradients = .zeros(like: parameters)
        self.tensorSlots = parameters.tensorSlots
    }

    /// Computes the batch's gradient into ``gradients`` and the embedding gradients.
    ///
    /// - Parameter splitSeed: seeds the support/query shuffle when there is no time column;
    ///   the trainer derives it from (seed, epoch, batch) so a resumed run splits identically.
    @discardableResult
    public func compute(parameters: ModelParameters, batch: EncodedBatch, table: any EmbeddingTable, splitSeed: UInt64 = 1) -> Losses {
        var rng = SeededRandom(seed: splitSeed)
        let labelCounts = (0..<tasks.count).map { k in
            (0..<batch.count).reduce(0) { $0 + (batch.label(row: $1, task: k).isNaN ? 0 : 1) }
        }
        let metaTasks = meta.map { $0.splitter.tasks(of: batch, rng: &rng) } ?? []
        let plan = ShardPlan(batch: batch, parts: min(threads, max(batch.count, 1)), metaTasks: metaTasks,
                             keepsTasksTogether: meta != nil)
        let parts = plan.rows.count
        let (spec, layout, tasks, workers, meta) = (spec, layout, tasks, workers, meta)
        let taskCount = metaTasks.count
        pool.run(parts: parts) { t in
            let w = workers[t]
            // Each worker copies out its own rows, in parallel with the others.
            let shard = plan.isIdentity ? batch : batch.selecting(rows: plan.rows[t])
            w.gradients.zero()
            // Partitioned norm: each worker normalises with its shard's statistics (unsynchronised,
            // like data-parallel batch norm); the running statistics step once from all shards' sums.
            w.workspace.normStatistics = .batch
            MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: shard, table: table,
                                     createEmbeddings: true, workspace: &w.workspace)
            let loss = MultiTaskNetwork.loss(batch: shard, tasks: tasks, labelCounts: labelCounts, workspace: &w.workspace)
            // Each worker's loss is already divided by the batch-wide normaliser: shares add up.
            w.baseLossSums = loss.perTask.map { $0.isNaN ? 0 : $0 }
            MultiTaskNetwork.backwardTowers(parameters, spec: spec, gradients: &w.gradients, workspace: &w.workspace)
            w.metaLossSum = 0
            if let meta {
                if spec.starTowers != nil {
                    // Every scene's θ_eff,s once per step and worker, shared by its tasks.
                    w.effectiveTowers = parameters.towers.indices.map { k in
                        parameters.starTowers[k].map { StarTower.effective(shared: parameters.towers[k], scene: $0) }
                    }
                }
                for task in plan.metaTasks[t] {
                    Self.addMetaGradient(task: task, parameters: parameters, spec: spec, tasks: tasks, meta: meta,
                                         taskCount: taskCount, worker: w)
                }
            }
            MultiTaskNetwork.backwardBottom(parameters, spec: spec, layout: layout, batch: shard,
                                            gradients: &w.gradients, workspace: &w.workspace)
        }

        sumWorkerGradients(parts: parts)
        if spec.partitionedNorm != nil { mergeNormSums(parts: parts) }
        unmergedParts = parts
        let base = (0..<tasks.count).map { k in
            labelCounts[k] == 0 ? .nan : (0..<parts).reduce(0.0) { $0 + workers[$1].baseLossSums[k] }
        }
        let metaLoss = taskCount == 0 ? .nan : (0..<parts).reduce(0.0) { $0 + workers[$1].metaLossSum } / Double(taskCount)
        return Losses(base: base, meta: metaLoss, metaTasks: taskCount)
    }

    /// Adds `λ · (w_k / U) · ∂L_{Q,k}/∂(θ_k, ρ_k, f)` of one in-batch task, for every tower `k`.
    private static func addMetaGradient(task: InBatchTask, parameters: ModelParameters, spec: NetworkSpec, tasks: [TaskSpec],
                                        meta: MetaLearning, taskCount: Int, worker w: Worker) {
        for (k, head) in tasks.enumerated() {
            RowGather.gather(w.workspace.meta[k], rows: task.support, into: &w.support)
            RowGather.gather(w.workspace.meta[k], rows: task.query, into: &w.query)
            RowGather.gather(vector: w.workspace.taskLabels(k), rows: task.support, into: &w.supportLabels)
            RowGather.gather(vector: w.workspace.taskLabels(k), rows: task.query, into: &w.queryLabels)
            // STAR: the task adapts the effective tower θ_eff,s of its scene (``StarTowers``).
            let scene = spec.starTowers == nil ? -1 : Self.scene(of: task, rowScenes: w.workspace.starScenes)
            let theta = scene < 0 ? parameters.towers[k] : w.effectiveTowers[k][scene]
            let tower = Tower(parameters: theta, rates: parameters.innerRates(ofTask: k), kind: head.kind,
                              activation: spec.activation)
            let g = MetaGradient.compute(
                for: tower, support: LabelledRows(features: w.support, labels: w.supportLabels),
                query: LabelledRows(features: w.query, labels: w.queryLabels), policy: meta.adaptation, order: meta.order,
                workspace: &w.tower)
            let scale = meta.weight * head.weight / Float(taskCount)
            if scene < 0 {
                w.gradients.towers[k].addScaled(g.tower, by: scale)
            } else {
                // ∂L/∂θ_eff,s reaches W by ⊙ W_s and W_s by ⊙ W (the product rule; biases add).
                w.gradients.addStarGradient(g.tower, task: k, scene: scene, at: parameters, scale: scale)
            }
            if let dRates = g.rates { w.gradients.innerRates[k].addScaled(dRates, by: scale) }
            RowGather.scatterAdd(g.query, scale: scale, rows: task.query, into: &w.workspace.dMeta[k])
            if g.differentiatesSupport {
                RowGather.scatterAdd(g.support, scale: scale, rows: task.support, into: &w.workspace.dMeta[k])
            }
            w.metaLossSum += Double(head.weight) * g.queryLoss
        }
    }

    /// The STAR scene of an in-batch task: the scene most of its rows lie in (ties: the lower
    /// index; −1, the shared tower, when most are of unknown scenes). A user lies in one scene
    /// in the synthetic and ML-100K scene logs; a task spanning scenes (a census crowd across
    /// `class_of_worker`) adapts and is evaluated on its majority scene's tower, its other rows
    /// included — not task = (user, scene), which DESIGN §7 allows and this does not build.
    static func scene(of task: InBatchTask, rowScenes: [Int32]) -> Int {
        var counts: [Int32: Int] = [:]
        for r in task.support { counts[rowScenes[r], default: 0] += 1 }
        for r in task.query { counts[rowScenes[r], default: 0] += 1 }
        let best = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }
        return Int(best?.key ?? -1)
    }

    /// ``normSums`` = `Σ_t` the workers' partitioned-norm sums, per task.
    private func mergeNormSums(parts: Int) {
        normSums = (0..<spec.taskCount).map { k in
            var total = PartitionedNormSums()
            for t in 0..<parts { total.add(workers[t].workspace.norm[k].sums) }
            return total
        }
    }

    /// ``gradients`` = `Σ_t workers[t].gradients`, tensor by tensor; a large tensor's elements
    /// are split across the pool's threads.
    private func sumWorkerGradients(parts: Int) {
        let (workers, pool) = (workers, pool)
        for slot in tensorSlots {
            gradients.withTensor(at: slot) { sum in
                sum.withUnsafeMutableBufferPointer { out in
                    pool.forEachRange(count: out.count) { range in
                        let destination = out.baseAddress! + range.lowerBound
                        workers[0].gradients.tensor(at: slot).withUnsafeBufferPointer { first in
                            destination.update(from: first.baseAddress! + range.lowerBound, count: range.count)
                        }
                        for t in 1..<parts {
                            workers[t].gradients.tensor(at: slot).withUnsafeBufferPointer { part in
                                VectorAdd.add(part.baseAddress! + range.lowerBound, into: destination, count: range.count)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Merges the workers' embedding-row gradients by key, once per step.
    private func mergeEmbeddingGradients() {
        let parts = unmergedParts
        guard parts > 0 else { return }
        unmergedParts = 0
        let d = layout.embeddingDimension
        if parts == 1 {
            mergedKeys = workers[0].workspace.input.keys
            mergedGradients = workers[0].workspace.input.dRows.scalars
            return
        }
        var total = 0
        for t in 0..<parts { total += workers[t].workspace.input.keys.count }
        mergeSlots.reset(capacity: total)
        mergedKeys.removeAll(keepingCapacity: true)
        // Sized for every key being new; trimmed to the merged count below, capacity kept.
        mergedGradients.removeAll(keepingCapacity: true)
        mergedGradients.append(contentsOf: repeatElement(0, count: total * d))
        var merged = 0
        mergedGradients.withUnsafeMutableBufferPointer { out in
            for t in 0..<parts {
                let input = workers[t].workspace.input
                input.dRows.withUnsafeBufferPointer { g in
                    for (u, key) in input.keys.enumerated() {
                        let (s, isNew) = mergeSlots.slot(for: key, next: merged)
                        if isNew {
                            mergedKeys.append(key)
                            (out.baseAddress! + s * d).update(from: g.baseAddress! + u * d, count: d)
                            merged += 1
                        } else {
                            VectorAdd.add(g.baseAddress! + u * d, into: out.baseAddress! + s * d, count: d)
                        }
                    }
                }
            }
        }
        mergedGradients.removeLast(mergedGradients.count - merged * d)
    }

    /// Applies the last step's gradients — the dense optimiser's update (``DenseOptimizer``), then the embedding push
    /// to `table` — on the calling thread, while a helper reads the next batch from `stream`.
    /// The two share nothing, and reading a batch (shuffle-buffer refills, row copies) is the
    /// largest serial part of a step (measured in the module README, "Training step").
    ///
    /// - Returns: the stream's next batch (nil at the end of the pass), or the error it threw,
    ///   for the caller to raise after its bookkeeping of this step.
    public func applyUpdate(optimizer: inout DenseOptimizer, parameters: inout ModelParameters, table: any EmbeddingTable,
                            readingNextFrom stream: inout some BatchStream) -> Result<EncodedBatch?, any Error> {
        var next: Result<EncodedBatch?, any Error> = .success(nil)
        pool.overlap {
            optimizer.update(&parameters, gradients: gradients)
            if let norm = spec.partitionedNorm { parameters.updateRunningStatistics(with: normSums, momentum: norm.momentum) }
            pushEmbeddingGradients(to: table)
        } with: {
            next = Result { try stream.next() }
        }
        return next
    }

    /// Pushes the last step's embedding gradients to `table`.
    public func pushEmbeddingGradients(to table: any EmbeddingTable) {
        if unmergedParts == 1 {
            // One worker: its keys are unique already; push from its workspace without a copy.
            let input = workers[0].workspace.input
            return input.keys.withUnsafeBufferPointer { keys in
                input.dRows.scalars.withUnsafeBufferPointer { grads in table.push(keys: keys, gradients: grads) }
            }
        }
        mergeEmbeddingGradients()
        mergedKeys.withUnsafeBufferPointer { keys in
            mergedGradients.withUnsafeBufferPointer { grads in table.push(keys: keys, gradients: grads) }
        }
    }
}

extension MLPParameters {
    /// `self += alpha · other`, layer by layer.
    mutating func addScaled(_ other: MLPParameters, by alpha: Float) {
        for l in layers.indices {
            layers[l].weight.addScaled(other.layers[l].weight, by: alpha)
            layers[l].bias.addScaled(other.layers[l].bias, by: alpha)
        }
    }
}

/// How a batch is cut into worker shards: the batch rows of each shard and each shard's meta
/// tasks with rows renumbered to shard-local indices.
struct ShardPlan: Sendable {
    var rows: [[Int]]
    var metaTasks: [[InBatchTask]]
    var isIdentity: Bool

    init(batch: EncodedBatch, parts: Int, metaTasks: [InBatchTask], keepsTasksTogether: Bool) {
        guard keepsTasksTogether, parts > 1 else {
            rows = (0..<parts).map { t in Array((t * batch.count / parts)..<((t + 1) * batch.count / parts)) }
            isIdentity = parts == 1
            var tasks = Array(repeating: [InBatchTask](), count: parts)
            if parts == 1 { tasks[0] = metaTasks }
            self.metaTasks = tasks
            return
        }
        // Every row of a task key goes to one shard: the least-loaded one, largest groups first.
        var groups: [UInt64: [Int]] = [:]
        for r in 0..<batch.count { groups[batch.taskKeys[r], default: []].append(r) }
        let ordered = groups.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }
        var shardOfKey: [UInt64: Int] = [:]
        var shardRows = Array(repeating: [Int](), count: parts)
        for (key, members) in ordered {
            let t = shardRows.indices.min { shardRows[$0].count < shardRows[$1].count }!
            shardOfKey[key] = t
            shardRows[t] += members
        }
        var local = [Int](repeating: 0, count: batch.count)
        for t in 0..<parts {
            shardRows[t].sort()
            for (i, r) in shardRows[t].enumerated() { local[r] = i }
        }
        var tasks = Array(repeating: [InBatchTask](), count: parts)
        for task in metaTasks {
            let t = shardOfKey[task.key]!
            tasks[t].append(InBatchTask(key: task.key, support: task.support.map { local[$0] }, query: task.query.map { local[$0] }))
        }
        rows = shardRows
        self.metaTasks = tasks
        isIdentity = false
    }
}

/// Open-addressing map from a 64-bit embedding key (already a mixed hash) to a dense index,
/// for merging the workers' embedding gradients; load factor ≤ 1/2, storage reused across steps.
struct KeySlots {
    private var keys: [UInt64] = []
    /// Index per bucket, −1 = empty.
    private var indices: [Int32] = []
    private var mask = 0

    /// Empties the map, sized for `capacity` keys.
    mutating func reset(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size *= 2 }
        if indices.count != size {
            keys = [UInt64](repeating: 0, count: size)
            indices = [Int32](repeating: -1, count: size)
        } else {
            indices.withUnsafeMutableBufferPointer { $0.update(repeating: -1) }
        }
        mask = size - 1
    }

    /// The index of `key`, inserting it as `next` when absent (`isNew` then).
    mutating func slot(for key: UInt64, next: Int) -> (index: Int, isNew: Bool) {
        var b = Int(truncatingIfNeeded: key ^ (key >> 32)) & mask
        while true {
            let index = indices[b]
            if index < 0 {
                keys[b] = key
                indices[b] = Int32(next)
                return (next, true)
            }
            if keys[b] == key { return (Int(index), false) }
            b = (b + 1) & mask
        }
    }
}
