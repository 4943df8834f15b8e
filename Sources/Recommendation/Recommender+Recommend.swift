import Serving

extension Recommender {
    /// One recommendation: recall by the retrieval model, rank the recalled items by the ranker
    /// behind `batcher` (the per-user fine-tuned `/v1/score` path), the top `k` (see ``Recommender``).
    /// Used by `POST /v1/recommend` and by `metarec demo`'s in-process recommendations. A recall
    /// whose adapted `u` was not finite (it then searched with the unadapted `u`) is counted in
    /// `metarec_recall_adaptation_fallbacks_total`.
    /// - Throws: the plan's and the ranker's ``ServingError`` (4xx) for bad input.
    public func recommend(_ request: RecommendRequest, batcher: AutoBatcher) async throws(ServingError) -> RecommendResult {
        let predictor = batcher.predictor
        let tasks = predictor.taskNames
        let plan = try plan(request, tasks: tasks, maxCandidates: predictor.settings.maxCandidates)
        let recall = self.recalled(plan)
        if recall.adaptationFellBack { predictor.metrics.recordRecallAdaptationFallback() }
        let recalled = recall.rows
        let keys = recalled.map { model.index.keys[Int($0.row)] }
        var ranked = ScoreResult(modelVersion: predictor.model.modelVersion, taskNames: tasks)
        if !recalled.isEmpty {
            ranked = try await batcher.score(ScoreRequest(user: request.user, candidates: keys.map(candidate), context: request.context,
                                                          finetune: request.finetune))
        }
        let t = plan.orderIndex
        let order = recalled.indices.sorted { a, b in
            let (sa, sb) = (ranked.score(candidate: a, task: t), ranked.score(candidate: b, task: t))
            if sa.isNaN != sb.isNaN { return sb.isNaN }  // a NaN score sorts last (a strict weak order)
            if sa != sb && !sa.isNaN { return sa > sb }
            if recalled[a].score != recalled[b].score { return recalled[a].score > recalled[b].score }
            return a < b
        }
        return RecommendResult(ranked: ranked, retrievalModelVersion: model.manifest.modelVersion, orderBy: tasks[t],
                               historyItems: min(plan.historyRows.count, max(1, model.manifest.maxHistory)), unknownHistory: plan.unknownHistory,
                               keys: keys, retrievalScores: recalled.map(\.score), order: Array(order.prefix(plan.k)))
    }
}
