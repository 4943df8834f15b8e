import ModelDescription
import ModelMath
import TensorCore

/// Scores a stream with fixed parameters and accumulates per-task metrics.
/// Unseen embedding keys read as zero rows (nothing is created during evaluation).
public struct Evaluator {
    public let spec: NetworkSpec
    public let layout: InputLayout
    public let tasks: [TaskSpec]
    private var workspace = NetworkWorkspace()

    public init(spec: NetworkSpec, layout: InputLayout, tasks: [TaskSpec]) {
        self.spec = spec
        self.layout = layout
        self.tasks = tasks
    }

    /// Metrics of `parameters` over every batch of `stream`, one per task, in task order,
    /// and the mean weighted base loss per row.
    public mutating func evaluate(
        _ parameters: ModelParameters, stream: inout some BatchStream, table: any EmbeddingTable
    ) throws -> (metrics: [TaskMetrics], loss: Double) {
        var accumulators = tasks.map { TaskMetricsAccumulator(kind: $0.kind) }
        var lossSums = [Double](repeating: 0, count: tasks.count)
        var counts = [Int](repeating: 0, count: tasks.count)
        while let batch = try stream.next() {
            MultiTaskNetwork.forward(parameters, spec: spec, layout: layout, batch: batch, table: table,
                                     createEmbeddings: false, workspace: &workspace)
            for (k, task) in tasks.enumerated() {
                let logits = workspace.logits(task: k)
                TaskLoss.labels(of: batch, task: k, into: &scratchLabels)
                let n = TaskLoss.labelledCount(scratchLabels)
                guard n > 0 else { continue }
                lossSums[k] += TaskLoss.loss(kind: task.kind, logits: logits, labels: scratchLabels)
                counts[k] += n
                for r in 0..<batch.count {
                    accumulators[k].add(prediction: TaskLoss.prediction(kind: task.kind, logit: logits.scalars[r]),
                                        label: scratchLabels.scalars[r])
                }
            }
        }
        var loss = 0.0
        for (k, task) in tasks.enumerated() where counts[k] > 0 {
            loss += Double(task.weight) * lossSums[k] / Double(counts[k])
        }
        return (accumulators.map { $0.result() }, loss)
    }

    private var scratchLabels = Tensor(shape: [0])
}
