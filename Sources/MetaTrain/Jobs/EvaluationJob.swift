import Models

/// `metarec eval`: per-task metrics of a model directory on a CSV log.
public struct EvaluationJob {
    public var modelPath: String
    public var dataPath: String
    public var maxBadRows = 0

    public init(modelPath: String, dataPath: String) {
        self.modelPath = modelPath
        self.dataPath = dataPath
    }

    /// Per-task metrics in config order, with the task names.
    public func run() throws -> [(task: String, metrics: TaskMetrics)] {
        let model = try LoadedModel(path: modelPath)
        var evaluator = Evaluator(spec: model.config.networkSpec, layout: model.config.inputLayout, tasks: model.config.taskSpecs)
        var stream = try CSVBatchStream(path: dataPath, encoder: model.encoder, options: CSVReadOptions(maxBadRows: maxBadRows))
        let (metrics, _) = try evaluator.evaluate(model.parameters, stream: &stream, table: model.embeddings)
        return zip(model.config.labels.map(\.name), metrics).map { (task: $0, metrics: $1) }
    }
}
