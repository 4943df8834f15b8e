import Logging
import ModelDescription
import ModelMath
import ParamServer

/// `metarec eval`: per-task metrics of a model directory on a CSV log, optionally with
/// per-task fine-tuning (metrics with and without it, overall and per activity bucket).
public struct EvaluationJob {
    public var modelPath: String
    public var dataPath: String
    public var maxBadRows = 0
    /// Job events (bad rows skipped) go here.
    public var logger = Logger(label: "metarec")
    /// The inner-loop policy's fields (inner loss, adapted layers, head) to evaluate instead of
    /// the model's own `meta` section: the model's config in, the config to adapt with out.
    public var policy: @Sendable (ModelConfig) -> ModelConfig = { $0 }
    /// How the model's support store keeps its rows (the snapshot is rounded into it at
    /// bfloat16), as a server with that `serving.support_precision` would; `nil`: the model's own.
    public var supportPrecision: SupportPrecision?

    public init(modelPath: String, dataPath: String) {
        self.modelPath = modelPath
        self.dataPath = dataPath
    }

    /// Per-task metrics in config order, with the task names.
    public func run() throws -> [(task: String, metrics: TaskMetrics)] {
        let model = try LoadedModel(path: modelPath, supportPrecision: supportPrecision)
        var evaluator = Evaluator(spec: model.config.networkSpec, layout: model.config.inputLayout, tasks: model.config.taskSpecs)
        var stream = Self.supportEncoded(
            try CSVBatchStream(path: dataPath, encoder: model.encoder, options: CSVReadOptions(maxBadRows: maxBadRows)), model: model)
        let (metrics, _) = try evaluator.evaluate(model.parameters, stream: &stream, table: model.embeddings)
        logBadRows(stream.base.reader.badRowCount)
        return zip(model.config.labels.map(\.name), metrics).map { (task: $0, metrics: $1) }
    }

    /// Metrics with and without per-task fine-tuning.
    /// - Parameters:
    ///   - steps, learningRate: the inner loop; default to the model's `meta` settings.
    ///   - minimumSupportRows: tasks with fewer support rows keep the base towers; defaults to the
    ///     model's `serving.finetune_min_support_rows`.
    public func runFineTuned(source: SupportSource, steps: Int?, learningRate: Double?,
                             minimumSupportRows: Int? = nil) throws -> (tasks: [String], groups: [FineTuneComparison]) {
        let model = try LoadedModel(path: modelPath, supportPrecision: supportPrecision)
        try Self.refuseSupportEncoder(model, path: modelPath)
        let adaptation = policy(model.config).adaptation(steps: steps ?? model.config.meta.innerSteps,
                                                 learningRate: learningRate ?? model.config.meta.innerLearningRate)
        var stream = try CSVBatchStream(path: dataPath, encoder: model.encoder, options: CSVReadOptions(maxBadRows: maxBadRows))
        let groups = try FineTunedEvaluation(model: model, adaptation: adaptation, source: source,
                                             minimumSupportRows: max(1, minimumSupportRows ?? model.config.serving.finetuneMinSupportRows))
            .run(stream: &stream)
        logBadRows(stream.reader.badRowCount)
        return (model.config.labels.map(\.name), groups)
    }

    /// The log with the support encoder's pools (when the model has one): a row pools its user's
    /// rows in the model's support store (the end of training), then the earlier rows of this log.
    static func supportEncoded(_ csv: CSVBatchStream, model: LoadedModel) -> SupportEncodedStream<CSVBatchStream> {
        let store = model.support, encoder = model.config.supportEncoder
        var features = [Float](repeating: 0, count: store.config.capacity * store.config.rowWidth)
        var labels = [Float](repeating: 0, count: store.config.capacity * store.config.labelWidth)
        return SupportEncodedStream(csv, encoder: encoder, prior: encoder.map { encoder in { task in
            store.supportEncoderRows(task: task, encoder: encoder, features: &features, labels: &labels)
        } })
    }

    /// `eval --finetune` builds its support sets itself (``FineTunedEvaluation``), without the
    /// support encoder's keys: an encoder model is evaluated fine-tuned through the serving path
    /// (`metarec eval-cold`).
    static func refuseSupportEncoder(_ model: LoadedModel, path: String) throws {
        guard model.config.model.supportEncoder != nil else { return }
        throw ConfigError.invalidValue(source: path, keyPath: "model.support_encoder", line: nil,
                                       reason: "eval --finetune does not support the support encoder; use metarec eval-cold (the serving path)")
    }

    /// Logs the malformed rows skipped (`--max-bad-rows`), when there were any.
    func logBadRows(_ count: Int) {
        guard count > 0 else { return }
        logger.warning("skipped \(count) bad rows in \(dataPath)",
                       metadata: ["event": "bad_rows_skipped", "file": "\(dataPath)", "bad_rows": "\(count)"])
    }
}
