import ModelDescription
import ModelMath
import TensorCore

extension EvaluationJob {
    /// Scores every row with the base model: global and per-user metrics and the scored rows.
    /// The global metrics equal ``run()``'s (same forward pass, same accumulator).
    public func runPerUser(options: PerUserOptions = .init()) throws -> PerUserEvaluation {
        let model = try LoadedModel(path: modelPath, supportPrecision: supportPrecision)
        let spec = model.config.networkSpec, layout = model.config.inputLayout, heads = model.config.taskSpecs
        var stream = Self.supportEncoded(
            try CSVBatchStream(path: dataPath, encoder: model.encoder, options: CSVReadOptions(maxBadRows: maxBadRows)), model: model)
        var recorder = ScoredRowsRecorder()
        var sceneScores = SceneScoreCollector()
        let sceneSlot = model.config.sceneCategoricalIndex
        var ws = NetworkWorkspace()
        while let batch = try stream.next() {
            MultiTaskNetwork.forward(model.parameters, spec: spec, layout: layout, batch: batch, table: model.embeddings,
                                     createEmbeddings: false, workspace: &ws)
            for (k, head) in heads.enumerated() {
                let logits = ws.logits(task: k)
                for r in 0..<batch.count {
                    let score = TaskLoss.prediction(kind: head.kind, logit: logits.scalars[r])
                    recorder.add(taskKey: batch.taskKeys[r], task: k, label: batch.label(row: r, task: k), score: score)
                    if let f = sceneSlot {
                        sceneScores.add(scene: batch.categorical[r * batch.categoricalWidth + f], user: batch.taskKeys[r],
                                        task: k, label: batch.label(row: r, task: k), score: score)
                    }
                }
            }
            if let f = sceneSlot {
                for r in 0..<batch.count { sceneScores.countRow(scene: batch.categorical[r * batch.categoricalWidth + f]) }
            }
        }
        var result = try perUserEvaluation(model: model, recorder: recorder, groups: nil, options: options)
        if let column = model.config.scene {
            let names = try TaskKeyNames(path: dataPath, column: column, options: CSVReadOptions(maxBadRows: maxBadRows))
            result.scenes = sceneScores.metrics(names: names, kinds: heads.map(\.kind))
        }
        return result
    }

    /// ``runFineTuned(source:steps:learningRate:minimumSupportRows:)`` with per-user metrics of
    /// both variants, per group, and the paired bootstrap CI of fine-tuned − base.
    public func runFineTunedPerUser(source: SupportSource, steps: Int?, learningRate: Double?, minimumSupportRows: Int? = nil,
                                    options: PerUserOptions = .init()) throws -> PerUserEvaluation {
        let model = try LoadedModel(path: modelPath, supportPrecision: supportPrecision)
        try Self.refuseSupportEncoder(model, path: modelPath)
        let adaptation = policy(model.config).adaptation(steps: steps ?? model.config.meta.innerSteps,
                                                 learningRate: learningRate ?? model.config.meta.innerLearningRate)
        var stream = try CSVBatchStream(path: dataPath, encoder: model.encoder, options: CSVReadOptions(maxBadRows: maxBadRows))
        var recorder = ScoredRowsRecorder()
        let groups = try FineTunedEvaluation(model: model, adaptation: adaptation, source: source,
                                             minimumSupportRows: max(1, minimumSupportRows ?? model.config.serving.finetuneMinSupportRows))
            .run(stream: &stream, recordingInto: &recorder)
        return try perUserEvaluation(model: model, recorder: recorder, groups: groups, options: options)
    }

    private func perUserEvaluation(model: LoadedModel, recorder: ScoredRowsRecorder, groups: [FineTuneComparison]?,
                                   options: PerUserOptions) throws -> PerUserEvaluation {
        let taskNames = model.config.labels.map(\.name), heads = model.config.taskSpecs
        let names = try TaskKeyNames(path: dataPath, column: model.config.taskKey, options: CSVReadOptions(maxBadRows: maxBadRows))
        let base = recorder.rows(fineTuned: false, names: names, taskNames: taskNames)
        let tuned = groups == nil ? nil : recorder.rows(fineTuned: true, names: names, taskNames: taskNames)
        var global = groups ?? []
        if groups == nil {
            var accumulators = heads.map { TaskMetricsAccumulator(kind: $0.kind) }
            for row in base.rows { accumulators[taskNames.firstIndex(of: row.task)!].add(prediction: Float(row.score), label: Float(row.label)) }
            let metrics = accumulators.map { $0.result() }
            global = [FineTuneComparison(name: "all", tasks: Set(base.rows.map(\.user)).count, base: metrics, fineTuned: metrics)]
        }
        // Users of each group: all, then the activity buckets that have users.
        var members: [(name: String, users: Set<String>?)] = [("all", nil)]
        if groups != nil {
            var byBucket = [Set<String>](repeating: [], count: FineTunedEvaluation.buckets.count)
            for (key, b) in recorder.buckets { byBucket[b].insert(names.name(of: key)) }
            for (b, bucket) in FineTunedEvaluation.buckets.enumerated() where !byBucket[b].isEmpty {
                members.append((bucket.name, byBucket[b]))
            }
        }
        var perUser = members.map { PerUserGroup(name: $0.name, reports: []) }
        for (k, task) in taskNames.enumerated() {
            let usersA = base.users(task: task), usersB = tuned?.users(task: task)
            for (g, group) in members.enumerated() {
                func only(_ users: [String: UserRows]) -> [String: UserRows] {
                    guard let keep = group.users else { return users }
                    return users.filter { keep.contains($0.key) }
                }
                perUser[g].reports.append(PerUserReport(task: task, scale: LabelScale(heads[k].kind), a: only(usersA),
                                                        b: usersB.map(only), ks: options.ks,
                                                        resamples: options.resamples, seed: options.seed))
            }
        }
        return PerUserEvaluation(tasks: taskNames, taskKey: model.config.taskKey, groups: global, perUser: perUser,
                                 base: base, fineTuned: tuned)
    }
}
