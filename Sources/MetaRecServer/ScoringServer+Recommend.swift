import Recommendation
import Serving

extension ScoringServer {
    /// `POST /v1/recommend`: ``Recommendation/Recommender/recommend(_:batcher:)`` on the primary
    /// version's auto-batcher.
    /// - Throws: ``ServingError/noRetrievalModel`` without a retrieval model; the plan's and the
    ///   ranker's 4xx for bad input.
    public func recommend(_ request: RecommendRequest) async throws(ServingError) -> RecommendResult {
        guard let recommender else { throw .noRetrievalModel }
        return try await recommender.recommend(request, batcher: batcher)
    }
}
