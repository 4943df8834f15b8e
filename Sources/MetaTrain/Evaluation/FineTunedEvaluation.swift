import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// Where a task's support set comes from when evaluating with per-task fine-tuning.
public enum SupportSource: Sendable, Equatable {
    /// The model's support store: the task's most recent training rows (as served).
    case supportStore
    /// The earliest `fraction` of the task's rows in the evaluated file (by time); only the
    /// remaining rows are scored, with and without fine-tuning.
    case evaluatedFile(fraction: Double)
}

/// Metrics with and without fine-tuning for one group of tasks.
public struct FineTuneComparison: Sendable {
    public var name: String
    public var tasks: Int
    public var base: [TaskMetrics]
    public var fineTuned: [TaskMetrics]
}

/// Evaluation with per-task fine-tuning (`docs/DESIGN.md` §Math, §Serving): each task's towers are
/// adapted on its support rows with ``ModelMath/Tower/adapt(on:policy:normalizer:workspace:)`` —
/// the function training's inner loop and serving use — then its rows are scored. Reports metrics
/// with and without fine-tuning, overall and per activity bucket (support rows 0, 1–5, 6–20,
/// 21–100, > 100).
///
/// Memory: the evaluated file's meta-layer inputs are held (`rows × K·H` floats).
public struct FineTunedEvaluation {
    public static let buckets: [(name: String, range: ClosedRange<Int>)] = [
        ("0", 0...0), ("1-5", 1...5), ("6-20", 6...20), ("21-100", 21...100), (">100", 101...Int.max),
    ]

    public let model: LoadedModel
    public var adaptation: Adaptation
    public var source: SupportSource
    /// Fewest support rows a task needs to be fine-tuned; a task with fewer is scored by the
    /// base towers in the fine-tuned variant too (serving's `finetune_min_support_rows`).
    public var minimumSupportRows: Int
    /// Per task: when an adapted tower is refused (serving's fallback); the model's by default.
    public var guards: [AdaptationGuard]

    public init(model: LoadedModel, adaptation: Adaptation, source: SupportSource, minimumSupportRows: Int = 1) {
        precondition(minimumSupportRows >= 1, "FineTunedEvaluation: minimumSupportRows must be >= 1, got \(minimumSupportRows)")
        self.model = model
        self.adaptation = adaptation
        self.source = source
        self.minimumSupportRows = minimumSupportRows
        guards = model.config.adaptationGuards(labelRanges: model.manifest.labelRanges)
    }

    public func run(stream: inout some BatchStream) throws -> [FineTuneComparison] {
        var recorder = ScoredRowsRecorder(enabled: false)
        return try run(stream: &stream, recordingInto: &recorder)
    }

    /// ``run(stream:)`` that also records every scored row of both variants and each task's
    /// activity bucket into `recorder` (the per-user metrics' input).
    public func run(stream: inout some BatchStream, recordingInto recorder: inout ScoredRowsRecorder) throws -> [FineTuneComparison] {
        let spec = model.config.networkSpec, heads = model.config.taskSpecs
        let kk = spec.taskCount, h = spec.metaWidth
        // 1. Meta-layer inputs of every evaluated row, grouped by task.
        let (rowsByTask, sceneOfTask) = try metaLayerInputs(of: &stream)

        var overallBase = heads.map { TaskMetricsAccumulator(kind: $0.kind) }
        var overallTuned = overallBase
        var bucketBase = Array(repeating: overallBase, count: Self.buckets.count)
        var bucketTuned = bucketBase
        var bucketTasks = [Int](repeating: 0, count: Self.buckets.count)
        var towerWS = TowerWorkspace()
        var storeFeatures = [Float](repeating: 0, count: model.support.config.capacity * kk * h)
        var storeLabels = [Float](repeating: 0, count: model.support.config.capacity * kk)
        var scores: [Float] = []
        let towersOfScene = baseTowers(scenes: Set(sceneOfTask.values).union([-1]))

        for key in rowsByTask.keys.sorted() {
            let rows = rowsByTask[key]!
            let baseTowers = towersOfScene[sceneOfTask[key] ?? -1]!
            // 2. The task's support (features (S, K·H), labels (S, K)) and the rows to score.
            var supportFeatures: ArraySlice<Float>, supportLabels: ArraySlice<Float>
            var scored: Range<Int>
            switch source {
            case .supportStore:
                let s = storeFeatures.withUnsafeMutableBufferPointer { f in
                    storeLabels.withUnsafeMutableBufferPointer { l in model.support.pull(task: key, features: f, labels: l) }
                }
                supportFeatures = storeFeatures[0..<(s * kk * h)]
                supportLabels = storeLabels[0..<(s * kk)]
                scored = 0..<rows.count
            case .evaluatedFile(let fraction):
                let s = min(Int((fraction * Double(rows.count)).rounded()), rows.count - 1)
                supportFeatures = rows.features[0..<(s * kk * h)]
                supportLabels = rows.labels[0..<(s * kk)]
                scored = s..<rows.count
            }
            let supportCount = supportLabels.count / kk
            let bucket = Self.buckets.firstIndex { $0.range.contains(supportCount) }!
            bucketTasks[bucket] += 1
            recorder.assign(taskKey: key, bucket: bucket)
            let queries = (0..<kk).map { k in
                Self.column(block: k, width: h, of: rows.features[(scored.lowerBound * kk * h)..<(scored.upperBound * kk * h)],
                            rows: scored.count, rowWidth: kk * h)
            }
            let tunedTowers = supportCount >= minimumSupportRows   // below it, the support is not even gathered
                ? adapted(baseTowers, support: (supportFeatures, supportLabels), queries: queries, workspace: &towerWS)
                : baseTowers
            for k in heads.indices {
                let (base, tuned, query) = (baseTowers[k], tunedTowers[k], queries[k])
                for (tower, isTuned) in [(base, false), (tuned, true)] {
                    tower.predictions(query, into: &scores, workspace: &towerWS)
                    for (i, r) in scored.enumerated() {
                        let label = rows.labels[r * kk + k]
                        recorder.add(taskKey: key, task: k, fineTuned: isTuned, label: label, score: scores[i])
                        if isTuned {
                            overallTuned[k].add(prediction: scores[i], label: label)
                            bucketTuned[bucket][k].add(prediction: scores[i], label: label)
                        } else {
                            overallBase[k].add(prediction: scores[i], label: label)
                            bucketBase[bucket][k].add(prediction: scores[i], label: label)
                        }
                    }
                }
            }
        }
        var out = [FineTuneComparison(name: "all", tasks: rowsByTask.count, base: overallBase.map { $0.result() },
                                      fineTuned: overallTuned.map { $0.result() })]
        for (b, bucket) in Self.buckets.enumerated() where bucketTasks[b] > 0 {
            out.append(FineTuneComparison(name: bucket.name, tasks: bucketTasks[b], base: bucketBase[b].map { $0.result() },
                                          fineTuned: bucketTuned[b].map { $0.result() }))
        }
        return out
    }

    /// Each scene's base towers, one per task: its STAR effective towers (−1, an unknown scene,
    /// or a model without STAR: the shared ones).
    private func baseTowers(scenes: Set<Int>) -> [Int: [Tower]] {
        let spec = model.config.networkSpec, heads = model.config.taskSpecs
        return Dictionary(uniqueKeysWithValues: scenes.map { scene in
            (scene, heads.indices.map { k in
                Tower(parameters: model.parameters.tower(ofTask: k, scene: scene), rates: model.parameters.innerRates(ofTask: k),
                      kind: heads[k].kind, activation: spec.activation)
            })
        })
    }

    /// The meta-layer inputs `f_k` and labels of every row of `stream`, grouped by task key: the
    /// model's bottom with fixed weights, creating no embedding rows; with STAR towers, each
    /// task's scene (the scene of most of its rows, ties to the lower index, as training's
    /// inner loop takes it), else empty.
    private func metaLayerInputs(of stream: inout some BatchStream) throws
        -> (sets: [UInt64: SupportSetBuilder.SupportSet], scenes: [UInt64: Int]) {
        let spec = model.config.networkSpec, layout = model.config.inputLayout
        var builder = SupportSetBuilder(capacity: Int.max, taskCount: spec.taskCount, metaWidth: spec.metaWidth)
        var ws = NetworkWorkspace()
        var counts: [UInt64: [Int: Int]] = [:]
        while let batch = try stream.next() {
            MultiTaskNetwork.forwardBottom(model.parameters, spec: spec, layout: layout, batch: batch, table: model.embeddings,
                                           createEmbeddings: false, workspace: &ws)
            builder.add(batch: batch, workspace: ws)
            if spec.starTowers != nil {
                for b in 0..<batch.count { counts[batch.taskKeys[b], default: [:]][Int(ws.starScenes[b]), default: 0] += 1 }
            }
        }
        let scenes = counts.mapValues { c in c.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key }
        return (builder.sortedSets(), scenes)
    }

    /// Every task's tower adapted on the user's support (`(S, K·H)` features, `(S, K)` labels), or
    /// the base towers for every task when a guard refuses one of them (an outsized update, or a
    /// regression prediction on the user's scored rows outside the label's range), as serving does.
    func adapted(_ base: [Tower], support: (features: ArraySlice<Float>, labels: ArraySlice<Float>), queries: [Tensor],
                 workspace ws: inout TowerWorkspace) -> [Tower] {
        let kk = base.count, h = model.config.networkSpec.metaWidth, s = support.labels.count / max(kk, 1)
        var out = base, predictions: [Float] = []
        for k in base.indices {
            let f = Self.column(block: k, width: h, of: support.features, rows: s, rowWidth: kk * h)
            let y = Tensor(shape: [s], scalars: (0..<s).map { support.labels[support.labels.startIndex + $0 * kk + k] })
            TowerRows.with(f, labels: y) { out[k].adapt(on: $0, policy: adaptation, workspace: &ws) }
            out[k].predictions(queries[k], into: &predictions, workspace: &ws)
            let accepted = out[k].parameters.isFinite && predictions.allSatisfy(\.isFinite)
                && guards[k].acceptsUpdate(from: base[k].parameters, to: out[k].parameters)
                && (predictions.isEmpty || predictions.withUnsafeBufferPointer { guards[k].acceptsPredictions($0.baseAddress!, count: $0.count) })
            if !accepted { return base }
        }
        return out
    }

    /// Columns `[block·width, (block+1)·width)` of a row-major `(rows, rowWidth)` slice, as `(rows, width)`.
    static func column(block: Int, width: Int, of values: ArraySlice<Float>, rows: Int, rowWidth: Int) -> Tensor {
        var out = Tensor(shape: [rows, width])
        let base = values.startIndex
        for r in 0..<rows {
            for j in 0..<width { out.scalars[r * width + j] = values[base + r * rowWidth + block * width + j] }
        }
        return out
    }
}
