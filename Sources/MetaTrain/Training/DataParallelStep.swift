import Dispatch
import Models
import TensorCore

/// One training step's gradient, computed data-parallel over worker threads.
///
/// The batch is cut into `T` contiguous row ranges; each worker runs forward, loss and
/// backward on its range with its own workspace and gradient accumulator, normalising every
/// task by the *whole* batch's labelled-row count, so the sum of the workers' gradients is
/// exactly the gradient of the batch. Embedding-row gradients are merged by key (a key
/// touched by two workers gets the sum), then pushed once.
///
/// Threading: `compute` blocks its caller and uses `T` threads (the caller's one included);
/// a `DataParallelStep` must not be shared between concurrent callers.
public final class DataParallelStep: @unchecked Sendable {
    public let spec: NetworkSpec
    public let layout: InputLayout
    public let tasks: [TaskSpec]
    public let threads: Int
    private var workers: [Worker]

    /// The summed dense gradient of the last ``compute(parameters:batch:table:)``.
    public private(set) var gradients: ModelParameters
    /// Unique embedding keys of the last batch and their summed `(U, d)` gradients.
    public private(set) var embeddingKeys: [UInt64] = []
    public private(set) var embeddingGradients: [Float] = []

    final class Worker: @unchecked Sendable {
        var workspace = NetworkWorkspace()
        var gradients: ModelParameters
        var losses: [Double] = []
        init(gradients: ModelParameters) { self.gradients = gradients }
    }

    public init(spec: NetworkSpec, layout: InputLayout, tasks: [TaskSpec], threads: Int, like parameters: ModelParameters) {
        precondition(threads >= 1, "DataParallelStep: threads must be >= 1, got \(threads)")
        self.spec = spec
        self.layout = layout
        self.tasks = tasks
        self.threads = threads
        self.workers = (0..<threads).map { _ in Worker(gradients: .zeros(like: parameters)) }
        self.gradients = .zeros(like: parameters)
    }

    /// Computes the batch's base-loss gradient into ``gradients`` and the embedding gradients.
    /// - Returns: per-task mean losses of the batch (NaN where a task has no labels).
    @discardableResult
    public func compute(parameters: ModelParameters, batch: EncodedBatch, table: any EmbeddingTable) -> [Double] {
        let labelCounts = (0..<tasks.count).map { k in
            (0..<batch.count).reduce(0) { $0 + (batch.label(row: $1, task: k).isNaN ? 0 : 1) }
        }
        let parts = min(threads, max(batch.count, 1))
        let shards: [EncodedBatch] = parts == 1 ? [batch] : (0..<parts).map { t in
            batch.selecting(rows: (t * batch.count / parts)..<((t + 1) * batch.count / parts))
        }
        let (spec, layout, tasks, workers) = (spec, layout, tasks, workers)
        let run: @Sendable (Int) -> Void = { t in
            let worker = workers[t]
            worker.gradients.zero()
            MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: shards[t], table: table,
                                     createEmbeddings: true, workspace: &worker.workspace)
            let loss = MultiTaskNetwork.loss(batch: shards[t], tasks: tasks, labelCounts: labelCounts, workspace: &worker.workspace)
            worker.losses = loss.perTask.enumerated().map { k, mean in
                // Back from the worker's own mean to its share of the batch sum.
                mean.isNaN ? 0 : mean * Double(TaskLoss.labelledCount(worker.workspace.taskLabels(k)))
            }
            MultiTaskNetwork.backward(parameters, spec: spec, layout: layout, batch: shards[t],
                                      gradients: &worker.gradients, workspace: &worker.workspace)
        }
        if parts == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: run) }

        gradients.zero()
        for t in 0..<parts { gradients.addScaled(workers[t].gradients, by: 1) }
        mergeEmbeddingGradients(parts: parts)
        return (0..<tasks.count).map { k in
            labelCounts[k] == 0 ? .nan : (0..<parts).reduce(0.0) { $0 + workers[$1].losses[k] } / Double(labelCounts[k])
        }
    }

    private func mergeEmbeddingGradients(parts: Int) {
        let d = layout.embeddingDimension
        if parts == 1 {
            embeddingKeys = workers[0].workspace.input.keys
            embeddingGradients = workers[0].workspace.input.dRows.scalars
            return
        }
        var slot: [UInt64: Int] = [:]
        embeddingKeys.removeAll(keepingCapacity: true)
        embeddingGradients.removeAll(keepingCapacity: true)
        for t in 0..<parts {
            let input = workers[t].workspace.input
            input.dRows.withUnsafeBufferPointer { g in
                for (u, key) in input.keys.enumerated() {
                    if let s = slot[key] {
                        for j in 0..<d { embeddingGradients[s * d + j] += g[u * d + j] }
                    } else {
                        slot[key] = embeddingKeys.count
                        embeddingKeys.append(key)
                        embeddingGradients.append(contentsOf: g[(u * d)..<((u + 1) * d)])
                    }
                }
            }
        }
    }

    /// Pushes the last step's embedding gradients to `table`.
    public func pushEmbeddingGradients(to table: any EmbeddingTable) {
        embeddingKeys.withUnsafeBufferPointer { keys in
            embeddingGradients.withUnsafeBufferPointer { grads in table.push(keys: keys, gradients: grads) }
        }
    }
}
