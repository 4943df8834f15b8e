import Serving

extension ScoringServer {
    /// `POST /v1/recommend`: recall by the retrieval model, rank by the served ranker (the
    /// per-user fine-tuned `/v1/score` path through the auto-batcher), the top `k` (``Recommender``).
    /// - Throws: ``ServingError/noRetrievalModel`` without a retrieval model; the plan's and the
    ///   ranker's 4xx for bad input.
    public func recommend(_ request: RecommendRequest) async throws(ServingError) -> RecommendResult {
        guard let recommender else { throw .noRetrievalModel }
        let tasks = predictor.taskNames
        let plan = try recommender.plan(request, tasks: tasks, maxCandidates: predictor.settings.maxCandidates)
        let recalled = recommender.recalled(plan)
        let keys = recalled.map { recommender.model.index.keys[Int($0.row)] }
        var ranked = ScoreResult(modelVersion: predictor.model.modelVersion, taskNames: tasks)
        if !recalled.isEmpty {
            let candidates = keys.map(recommender.candidate)
            ranked = try await batcher.score(ScoreRequest(user: request.user, candidates: candidates, context: request.context,
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
        return RecommendResult(ranked: ranked, retrievalModelVersion: recommender.model.manifest.modelVersion, orderBy: tasks[t],
                               historyItems: min(plan.historyRows.count, max(1, recommender.model.manifest.maxHistory)), unknownHistory: plan.unknownHistory,
                               keys: keys, retrievalScores: recalled.map(\.score), order: Array(order.prefix(plan.k)))
    }
}
