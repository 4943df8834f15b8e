import ModelDescription
import Retrieval
import Serving
import Synchronization

/// What `POST /v1/recommend` needs beside the ranker (`docs/DESIGN.md` §HTTP): the retrieval
/// model and its index, the ranker feature that carries an item key, and the users' recent items.
///
/// ```
/// history  = request.history ?? recentItems[user]        item keys → catalogue rows; unknown keys skipped (reported)
/// excluded = rows(request.exclude) ∪ (exclude_seen ? history rows : ∅)
/// recalled = CatalogueRecall(history, excluded, n)       exact top-n of ⟨u, v_i⟩ over all N items (u adapted on the
///                                                        history's last items first, with an adaptation: UserAdaptation)
/// ranked   = the ranker's /v1/score path on catalogue[key] ∪ {itemFeature: key} per recalled item, with the request's context
/// items    = the k best recalled by the order_by task's score (ties: retrieval score, then recall order)
/// ```
/// Threading: each recall takes a ``Retrieval/CatalogueRecall`` (its scratch) from a pool and
/// returns it, so concurrent recalls run in parallel; the pool's copies share the index's panels
/// (copy-on-write arrays, never written), only their scratch is per copy. Ranking goes through
/// the auto-batcher like any score request.
public final class Recommender: Sendable {
    /// The retrieval model (parameters, `V`, keys).
    public let model: RetrievalModel
    /// The ranker feature a candidate's item key is sent under (e.g. `item_id`).
    public let itemFeature: String
    /// Users' recent item keys from `/v1/events`.
    public let recentItems: RecentItems
    /// Item features sent with each candidate (`--catalogue`), if any.
    public let catalogue: ItemCatalogue?
    /// The recall every pooled copy starts from.
    private let prototype: CatalogueRecall
    /// Idle recalls, at most ``maxIdleRecalls``.
    private let idleRecalls = Mutex<[CatalogueRecall]>([])
    /// Idle recalls kept for reuse: beyond this many concurrent recalls, a copy is dropped after use.
    static let maxIdleRecalls = 16

    /// A setting that does not fit the ranker.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// - Throws: ``Invalid`` when `itemFeature` is not a categorical input feature of `ranker`.
    public init(model: RetrievalModel, itemFeature: String, ranker: ModelConfig, catalogue: ItemCatalogue? = nil,
                maxUsers: Int = 100_000, adaptation: UserAdaptation? = nil) throws(Invalid) {
        guard let feature = ranker.features.first(where: { $0.name == itemFeature }) else {
            throw Invalid(description: "the ranker has no feature \(itemFeature) to carry the item keys "
                          + "(its features: \(ranker.features.map(\.name).joined(separator: ", "))); set --retrieval-item-feature")
        }
        guard feature.kind == .categorical else {
            throw Invalid(description: "the ranker's feature \(itemFeature) is \(feature.kind.yamlName), not categorical: "
                          + "it cannot carry item keys; set --retrieval-item-feature")
        }
        self.model = model
        self.itemFeature = itemFeature
        self.catalogue = catalogue
        recentItems = RecentItems(perUser: max(1, model.manifest.maxHistory), maxUsers: maxUsers)
        prototype = CatalogueRecall(model: model, adaptation: adaptation)
    }

    /// One request's recall inputs, validated.
    struct Plan {
        var k: Int, n: Int, orderIndex: Int
        var historyRows: [Int32], unknownHistory: [String], excludedRows: [Int32]
    }

    /// Checks the request against the limits and the tasks and maps its keys to rows.
    /// - Throws: ``ServingError/invalidValue(field:reason:)`` for `k`, `n` or `order_by`.
    func plan(_ r: RecommendRequest, tasks: [String], maxCandidates: Int) throws(ServingError) -> Plan {
        let k = r.k ?? RecommendRequest.defaultK
        guard (1...maxCandidates).contains(k) else { throw .invalidValue(field: "k", reason: "must be in 1...\(maxCandidates), got \(k)") }
        let n = r.n ?? min(max(k, RecommendRequest.defaultN), maxCandidates)
        guard n >= k, n <= maxCandidates else {
            throw .invalidValue(field: "n", reason: "must be in k...\(maxCandidates) (k = \(k), serving.max_candidates = \(maxCandidates)), got \(n)")
        }
        let orderIndex: Int
        if let name = r.orderBy {
            guard let i = tasks.firstIndex(of: name) else {
                throw .invalidValue(field: "order_by", reason: "not a task of the model (\(tasks.joined(separator: ", ")))")
            }
            orderIndex = i
        } else {
            orderIndex = 0
        }
        for (field, count) in [("history", r.history?.count ?? 0), ("exclude", r.exclude?.count ?? 0)]
        where count > RecommendRequest.maxListLength {
            throw .invalidValue(field: field, reason: "at most \(RecommendRequest.maxListLength) item keys, got \(count)")
        }
        var plan = Plan(k: k, n: n, orderIndex: orderIndex, historyRows: [], unknownHistory: [], excludedRows: [])
        for key in r.history ?? recentItems.history(of: r.user) {
            if let row = model.index.rows[key] { plan.historyRows.append(row) } else { plan.unknownHistory.append(key) }
        }
        plan.excludedRows = (r.exclude ?? []).compactMap { model.index.rows[$0] }
        if r.excludeSeen ?? true { plan.excludedRows += plan.historyRows }
        plan.excludedRows = Array(Set(plan.excludedRows)).sorted()
        return plan
    }

    /// The ranker's candidate for an item: its catalogue row (if any) and the key under ``itemFeature``.
    func candidate(_ key: String) -> [String: FeatureValue] {
        var row = catalogue?.rows[key] ?? [:]
        row[itemFeature] = .string(key)
        return row
    }

    /// The recalled rows and their retrieval scores `⟨u, v_i⟩`, best first, and whether the
    /// adapted `u` was not finite (the unadapted one was searched).
    func recalled(_ plan: Plan) -> (rows: [(row: Int32, score: Float)], adaptationFellBack: Bool) {
        var out: [(row: Int32, score: Float)] = []
        out.reserveCapacity(min(plan.n, model.index.count))
        var recall = idleRecalls.withLock { $0.popLast() } ?? prototype
        recall.recall(history: plan.historyRows, excluding: plan.excludedRows, n: plan.n, into: &out)
        let fellBack = recall.lastAdaptationFellBack
        idleRecalls.withLock { if $0.count < Self.maxIdleRecalls { $0.append(recall) } }
        return (out, fellBack)
    }
}
