import ModelDescription
import ModelMath
import ParamServer
import Synchronization
import TensorCore

/// Scores candidates for one user with towers fine-tuned on that user's support rows
/// (`docs/DESIGN.md` §Serving):
///
/// ```
/// F, Y     = supportStore.pull(user)                 F: (S, K·H), Y: (S, K)
/// θ'_k     = adapt(θ_k; F[:, kH ..< (k+1)H], Y[:, k]) k inner SGD steps, lr α, normaliser n_k = labelled
///                                                     rows of task k in this request's support ("num")
/// f_k      = Bottom(candidates)_k                     (C, H), the shared bottom run once per batch
/// score_k  = Tower_k(f_k; θ'_k)                       (C)  σ for binary tasks, identity for regression
/// ```
/// The adaptation is ``ModelMath/Tower/adapt(on:policy:normalizer:workspace:)``,
/// the same function as the training inner loop. Because the bottom is row-wise and every
/// request adapts on its own support with its own normaliser, a request's scores do not
/// depend on the requests merged with it (``AutoBatcher``).
///
/// Fallbacks (the base towers θ serve the request, counted in ``ServingMetrics``): fine-tuning
/// off or `steps = 0`; no servable support rows (unknown user, all expired); a non-finite
/// adapted weight or score.
///
/// Thread safety: `Sendable`; concurrent calls each check out their own
/// ``PredictorWorkspace`` from a small pool (one per concurrently scoring thread).
/// - Complexity: per request `O(C·bottom + K·k·S·H·T + K·C·H·T)` flops; allocation-free after
///   warm-up on ``score(_:into:)`` (see the module README for what still allocates).
public final class Predictor: Sendable {
    public let model: ServingModel
    public let settings: ServingSettings
    public let metrics: ServingMetrics
    /// Where users' support rows are read and events appended: ``ServingModel/support`` (the
    /// in-process store) unless a shared store (Redis) was given.
    public let supportStore: any SupportRowStore
    /// ``ServingModel/support`` when it is ``supportStore``: the hot path pulls from it directly.
    let localSupport: SupportStore?
    let spec: NetworkSpec
    let layout: InputLayout
    let tasks: [TaskSpec]
    /// Each feature's name and kind (request type checks).
    let schema: FeatureSchema
    /// Candidates → rows of the merged batch.
    let candidateEncoder: CandidateEncoder
    /// The bottom's first layers and gates packed into one GEMM (built once from the model).
    let bottom: PackedBottom
    let userHasher: FeatureKeyHasher
    /// Per task: when an adapted tower is refused for a request.
    let guards: [AdaptationGuard]
    /// The support encoder (nil when off): its pools are attached to every batch before the bottom.
    let supportEncoder: SupportEncoder?
    /// `Fm`: the config's own multi-categorical columns, before the encoder's.
    let baseMultiWidth: Int
    /// `W`: floats of one support row (`K·H`, plus the encoder's key).
    let supportRowWidth: Int
    /// STAR towers: `sceneTowers[t][s]` = task `t`'s effective tower `θ_eff,s` of scene `s`
    /// (``ModelMath/StarTower``), formed once at load; empty without `model.star_towers`.
    let sceneTowers: [[MLPParameters]]
    let pool = Mutex<[PredictorWorkspace]>([])

    /// - Parameters:
    ///   - settings: defaults of fine-tuning, `k`, `α` and the candidate limit; the config's
    ///     `serving` section when `nil`.
    ///   - supportStore: the support rows (a shared ``ParamServer/RedisSupportStore`` for a fleet);
    ///     `nil`: ``ServingModel/support``. Its widths must be the model's (`W`, `K`, `S_max`).
    public init(model: ServingModel, settings: ServingSettings? = nil, metrics: ServingMetrics = ServingMetrics(),
                supportStore: (any SupportRowStore)? = nil) {
        self.model = model
        self.settings = settings ?? ServingSettings(model.config)
        self.metrics = metrics
        self.supportStore = supportStore ?? model.support
        localSupport = supportStore == nil || supportStore === model.support ? model.support : nil
        spec = model.config.networkSpec
        layout = model.config.inputLayout
        tasks = model.config.taskSpecs
        schema = FeatureSchema(config: model.config, encoder: model.encoder)
        candidateEncoder = CandidateEncoder(schema: schema, encoder: model.encoder)
        bottom = PackedBottom(model.parameters, spec: spec)
        userHasher = FeatureKeyHasher(feature: model.config.taskKey)
        guards = self.settings.guards ?? model.config.adaptationGuards(labelRanges: model.labelRanges)
        supportEncoder = model.config.supportEncoder
        baseMultiWidth = model.config.multiCategoricalFeatures.count
        supportRowWidth = model.config.supportRowWidth
        sceneTowers = model.parameters.starTowers.indices.map { t in
            model.parameters.starTowers[t].map { StarTower.effective(shared: model.parameters.towers[t], scene: $0) }
        }
        let store = self.supportStore
        precondition(store.rowWidth == supportRowWidth,
                     "Predictor: support rows are \(store.rowWidth) wide, the model's are \(supportRowWidth) (K·H = \(spec.taskCount * spec.metaWidth))")
        precondition(store.labelWidth == spec.taskCount, "Predictor: support labels are \(store.labelWidth) wide, K = \(spec.taskCount)")
        precondition(store.capacity == model.support.config.capacity,
                     "Predictor: the support store keeps \(store.capacity) rows a task, the model's S_max is \(model.support.config.capacity)")
    }

    /// Task names `K`, in config order.
    public var taskNames: [String] { tasks.map(\.name) }

    /// The support-store key of a user: `FeatureKey.hash(task_key column, user)`.
    public func taskKey(user: String) -> UInt64 { userHasher.hash(user) }

    /// A fresh workspace (for callers that keep one per thread, e.g. ``AutoBatcher`` workers).
    package func makeWorkspace() -> PredictorWorkspace {
        PredictorWorkspace(model: model, features: schema.count)
    }

    /// Runs `body` on a workspace from the pool (a new one when the pool is empty) and returns
    /// it to the pool. The workspace is moved in and out, never copied: a copy retains and
    /// releases every one of its buffers, a measurable cost per request (README, "Measured").
    func withWorkspace<R, E: Error>(_ body: (inout PredictorWorkspace) throws(E) -> R) throws(E) -> R {
        var held: PredictorWorkspace? = pool.withLock { $0.popLast() } ?? makeWorkspace()
        held!.prefetched.clear()  // a batch's rows are the batch's: single requests and events pull their own
        defer {
            pool.withLock { pool in
                if pool.capacity == 0 { pool.reserveCapacity(16) }
                pool.append(held.take()!)
            }
        }
        return try body(&held!)
    }

    // MARK: Single requests

    /// Scores one request (validates it first).
    ///
    /// - Throws: ``ServingError`` naming the bad field; nothing is scored then.
    public func score(_ request: ScoreRequest) throws(ServingError) -> ScoreResult {
        var result = ScoreResult(modelVersion: model.modelVersion, taskNames: taskNames)
        try score(request, into: &result)
        return result
    }

    /// Scores one request into a reused result; allocation-free once `result` and the pooled
    /// workspace have seen a request of this size.
    public func score(_ request: ScoreRequest, into result: inout ScoreResult) throws(ServingError) {
        try validate(request)
        try withWorkspace { (ws: inout PredictorWorkspace) throws(ServingError) in
            try encodeAlone(request, workspace: &ws)
            runBottom(workspace: &ws)
            finish(request, rows: ws.rowOffsets[0]..<ws.rowOffsets[1], workspace: &ws, into: &result)
        }
    }

    // MARK: Batches

    /// Scores already-validated requests as one merged batch: the bottom runs once over all
    /// `Σ C_r` candidates, then each request adapts on its own support and scores its rows.
    ///
    /// - Parameter results: one entry per request, reused (`.success` keeps its buffers).
    package func scoreBatch(
        _ requests: [ScoreRequest], into results: inout [Result<ScoreResult, ServingError>],
        workspace ws: inout PredictorWorkspace
    ) {
        while results.count < requests.count {
            results.append(.success(ScoreResult(modelVersion: model.modelVersion, taskNames: taskNames)))
        }
        if results.count > requests.count { results.removeLast(results.count - requests.count) }
        var failed: [Int: ServingError] = [:]
        encode(requests, workspace: &ws) { r, error in failed[r] = error }
        prefetchSupport(requests, failed: failed, workspace: &ws)
        attachCandidateSupport(workspace: &ws)
        runBottom(workspace: &ws)
        var row = 0
        for r in requests.indices {
            if let error = failed[r] {
                results[r] = .failure(error)
                continue
            }
            let rows = ws.rowOffsets[row]..<ws.rowOffsets[row + 1]
            row += 1
            var result: ScoreResult
            if case .success(let reused) = results[r] { result = reused } else {
                result = ScoreResult(modelVersion: model.modelVersion, taskNames: taskNames)
            }
            results[r] = .failure(.shuttingDown)  // drop the enum's reference so `result` is unique
            finish(requests[r], rows: rows, workspace: &ws, into: &result)
            results[r] = .success(result)
        }
    }

    /// Runs the shared bottom over ``PredictorWorkspace/batch`` (``Models/PackedBottom``, the
    /// inference form of `MultiTaskNetwork.forwardBottom`): fills `network.meta[k]`, `(B, H)`.
    func runBottom(workspace ws: inout PredictorWorkspace) {
        guard ws.batch.count > 0 else { return }
        bottom.forward(batch: ws.batch, layout: layout, table: model.embeddings, workspace: &ws.network)
    }
}
