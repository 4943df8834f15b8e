import CoreMetrics
import Foundation
import Logging
import ModelDescription
import ModelMath
import ParamServer
import Prometheus
import Recommendation
import Retrieval
import Serving
import Synchronization

/// The HTTP scoring server behind `metarec serve` (`docs/DESIGN.md` §HTTP): the predictor, the
/// auto-batcher, the request limits, the eviction sweep, the support-store snapshot in the
/// state directory, its logger and its Prometheus registry.
/// ``makeServiceGroup(_:services:signals:onServerRunning:)`` runs it.
///
/// Threading: Hummingbird's event loops parse HTTP and JSON; scoring runs on the
/// auto-batcher's worker threads (started by ``BatcherService``, drained after the HTTP server
/// stops); the sweep runs in ``SweepService``; all are services of one `ServiceGroup`.
public final class ScoringServer: Sendable {
    /// The loaded model versions and which one answers a request: one for `--model DIR`, the
    /// served versions of a repository for `--models DIR` (replaced by hot swaps).
    public let models: ServedModels
    /// Scores requests and records events: the primary version's (``ServedModels/primary``; the
    /// only one for `--model DIR`).
    public var predictor: Predictor { models.primary.predictor }
    /// Merges concurrent `/v1/score` requests onto ``ServerConfiguration/workers`` threads: the
    /// primary version's.
    public var batcher: AutoBatcher { models.primary.batcher }
    /// Where the server listens, its worker threads, its sweep interval and its state directory.
    public let configuration: ServerConfiguration
    /// The one logger of the server, its batcher, sweeps, snapshots and Hummingbird.
    public let logger: Logger
    /// What `GET /metrics` renders: the serving metrics (made by a factory on this registry)
    /// and whatever else the caller registers on it.
    public let registry: PrometheusCollectorRegistry
    /// The adaptation and request limits given at `init` (`nil`: each model's `serving:` config).
    let settings: ServingSettings?
    /// `serving.max_body_bytes` of the (first primary) model's config (413 beyond).
    let maxBodyBytes: Int
    /// Whether the server has listened: a server that never did (say, the port was taken)
    /// served nothing and leaves the state directory's snapshot alone.
    let listened = Atomic<Bool>(false)
    /// The event log in the state directory (`nil` without one): opened by ``restoreState()``,
    /// truncated by ``snapshot()``.
    public let eventLog: EventLog?
    /// The retrieval model behind `POST /v1/recommend` (`nil`: the route answers 404 `no_retrieval_model`).
    public let recommender: Recommender?
    /// Re-reads the model repository (`--models DIR`) on SIGHUP and every poll interval; `nil`
    /// for `--model DIR`.
    let reloader: RepositoryReloader?

    /// A server for `model`.
    ///
    /// - Parameters:
    ///   - model: the served model (``ServingModel/init(_:)`` from a loaded model directory, or a synthetic one);
    ///     the model directory is only read.
    ///   - configuration: host, port, workers, sweep interval, state directory.
    ///   - settings: adaptation and request limits; `nil` takes them from the model's `serving:` config.
    ///   - logger: the process's logger (`Logger(label: "metarec")` on the bootstrapped handler by default).
    ///   - registry: the Prometheus registry the metrics go to; a new one per server by default, so
    ///     several servers can run in one process.
    ///   - recommender: the retrieval model for `POST /v1/recommend` (``Recommender``), if any.
    public convenience init(model: ServingModel, configuration: ServerConfiguration = ServerConfiguration(), settings: ServingSettings? = nil,
                            logger: Logger = Logger(label: "metarec"), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                            recommender: Recommender? = nil) {
        let version = Self.makeVersion(model, version: nil, name: nil, configuration: configuration, settings: settings,
                                       logger: logger, registry: registry)
        self.init(models: ServedModels(single: version), reloader: nil, configuration: configuration, settings: settings,
                  logger: logger, registry: registry, recommender: recommender)
    }

    /// A server over `models`; `reloader` re-reads a repository.
    init(models: ServedModels, reloader: RepositoryReloader?, configuration: ServerConfiguration, settings: ServingSettings?,
         logger: Logger, registry: PrometheusCollectorRegistry, recommender: Recommender?) {
        self.models = models
        self.reloader = reloader
        self.recommender = recommender
        self.registry = registry
        self.logger = logger
        self.settings = settings
        self.configuration = configuration
        let primary = models.primary.predictor
        maxBodyBytes = primary.model.config.serving.maxBodyBytes
        // The log is the in-process store's write-ahead log: a shared store keeps its own rows.
        eventLog = primary.supportStore.isShared ? nil : configuration.stateDirectory.map {
            EventLog(directory: $0, policy: configuration.eventFsync, store: primary.model.support, logger: logger,
                     metrics: EventLogMetrics(factory: Self.metricsFactory(registry)))
        }
    }

    /// One loaded version of `model`: a predictor on its own support store (the model's, or a
    /// shared store keyed by its model version) and an auto-batcher, not started.
    static func makeVersion(_ model: ServingModel, version: Int?, name: String?, configuration: ServerConfiguration,
                            settings: ServingSettings?, logger: Logger, registry: PrometheusCollectorRegistry) -> ServedVersion {
        var supportConfig = model.support.config
        supportConfig.modelVersion = model.support.modelVersion  // the version the model's rows are served under
        let shared = configuration.support.makeStore(config: supportConfig, clock: model.support.clock)
        let factory = Self.metricsFactory(registry)
        let predictor = Predictor(model: model, settings: settings, metrics: ServingMetrics(factory: factory), supportStore: shared)
        let serving = model.config.serving
        let batcher = AutoBatcher(predictor: predictor, configuration: .init(
            maxRequests: max(1, serving.batchMaxRequests),
            maxWait: .microseconds(max(0, serving.batchMaxWaitMicroseconds)),
            workers: configuration.workers), logger: logger)
        let metrics = version.map { VersionMetrics(model: name ?? "", version: $0, factory: factory) }
        return ServedVersion(version: version, predictor: predictor, batcher: batcher, metrics: metrics)
    }

    /// swift-prometheus' factory on `registry`, with the request-latency buckets of
    /// ``ServingMetrics/latencyBuckets`` and names made Prometheus-safe (`hb.requests` →
    /// `hb_requests`, for Hummingbird's `MetricsMiddleware` when the process bootstraps
    /// `MetricsSystem` with it, as `metarec serve` does).
    public static func metricsFactory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[ServingMetrics.latencyBucketsLabel] = ServingMetrics.latencyBuckets.map {
            .nanoseconds(Int64(($0 * 1e9).rounded()))
        }
        factory.nameAndLabelSanitizer = { name, labels in
            func safe(_ s: String) -> String { String(s.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" }) }
            return (safe(name), labels.map { (safe($0.0), $0.1) })
        }
        factory.durationHistogramBuckets[VersionMetrics.latencyLabel] = factory.durationHistogramBuckets[ServingMetrics.latencyBucketsLabel]
        factory.durationHistogramBuckets[EventLogMetrics.fsyncLabel] = EventLogMetrics.fsyncBuckets.map {
            .nanoseconds(Int64(($0 * 1e9).rounded()))
        }
        return factory
    }

    /// Bootstraps the process-wide `MetricsSystem` with a factory on this server's registry, so
    /// Hummingbird's `MetricsMiddleware` (which records on the process-wide factory) and any
    /// other library of the process appear at this server's `/metrics`. Once per process
    /// (`metarec serve`); tests that run several servers leave it alone.
    public func bootstrapProcessMetrics() {
        MetricsSystem.bootstrap(Self.metricsFactory(registry))
    }

    /// One eviction pass over both stores of every loaded version; the stores' gauges follow
    /// the primary version's.
    public func sweep() {
        let before = predictor.model.support.count
        for version in models.live {
            version.predictor.supportStore.sweep()
            version.predictor.model.embeddings.sweep()
        }
        predictor.metrics.recordSweep()
        predictor.metrics.recordStores(support: predictor.supportStore as? SupportStore, embeddings: predictor.model.embeddings)
        logger.debug("eviction sweep", metadata: ["tasks_before": "\(before)", "tasks_after": "\(predictor.model.support.count)"])
    }

    /// Writes the support store atomically into the state directory (`--state`); without one, logs
    /// that there is no snapshot. The model directory is never written.
    ///
    /// With the event log open, the snapshot truncates it (``EventLog/checkpoint(_:)``).
    ///
    /// - Throws: the parameter server's error when the snapshot cannot be written, or
    ///   ``EventLogError`` when the log's next segment cannot be created.
    public func snapshot() throws {
        guard !predictor.supportStore.isShared else { return }  // the rows are in Redis
        guard let state = configuration.stateDirectory else {
            logger.notice("no state directory (--state): the support store is not snapshotted")
            return
        }
        let path = ServerConfiguration.supportSnapshotPath(in: state)
        do {
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        } catch {
            throw ParamServerError.io(path: state, operation: "create directory", code: Int32(truncatingIfNeeded: (error as NSError).code))
        }
        let store = predictor.model.support
        let position = try eventLog.map { log in
            try log.checkpoint { position in try store.snapshot(to: path, journalPosition: position) }
        } ?? { try store.snapshot(to: path); return 0 }()
        logger.info("support store snapshot written", metadata: [
            "path": "\(path)", "tasks": "\(store.count)", "event_log_segment": "\(position)",
        ])
    }

    /// With `--support-seed` and a shared store: copies `version`'s model directory support rows into it (once per model version across
    /// the fleet); a failure is logged, not thrown: the server still serves (users' rows then
    /// come from events), and the marker is removed so that the next replica to start copies again.
    func seed(_ version: ServedVersion) {
        let predictor = version.predictor
        guard configuration.seedSharedSupport, let redis = predictor.supportStore as? RedisSupportStore else { return }
        guard redis.modelVersion == predictor.model.support.modelVersion else {
            logger.error("not seeding: the shared store writes another model version than the model directory's rows")
            return
        }
        do {
            if let rows = try redis.seed(from: predictor.model.support) {
                logger.info("support rows seeded into the shared store", metadata: ["rows": "\(rows)", "support": "\(redis.location)"])
            } else {
                logger.info("support rows of this model version were seeded already", metadata: ["support": "\(redis.location)"])
            }
        } catch {
            logger.error("seeding the shared support store failed: \(error)", metadata: ["support": "\(redis.location)"])
        }
    }

    /// Restores the support store from the state directory's snapshot, when there is one (a
    /// restart; the model directory's support rows stay otherwise), then replays the event log
    /// after it and opens the log for new events (``EventLog/open(after:)``). Call it once,
    /// before serving: without it a server with a state directory refuses events (503).
    ///
    /// - Returns: whether a snapshot was restored.
    /// - Throws: the parameter server's error for an unreadable or mismatched snapshot;
    ///   ``EventLogError`` for an unreadable log (a torn or corrupt tail is cut, not thrown).
    @discardableResult
    public func restoreState() throws -> Bool {
        if predictor.supportStore.isShared {
            logger.info("support rows in a shared store: no snapshot or event log", metadata: ["support": "\(predictor.supportStore.location)"])
            for version in models.live { seed(version) }
            return false
        }
        guard let state = configuration.stateDirectory else {
            logger.warning("no state directory (--state): events are not durable (no event log, no snapshot); support rows start from the model directory")
            return false
        }
        let path = ServerConfiguration.supportSnapshotPath(in: state)
        var position: UInt64?
        if FileManager.default.fileExists(atPath: path) {
            position = try predictor.model.support.restore(from: path)
            logger.info("support store restored", metadata: ["path": "\(path)", "tasks": "\(predictor.model.support.count)"])
        } else {
            logger.info("state directory has no support snapshot yet", metadata: ["path": "\(path)"])
        }
        try eventLog?.open(after: position ?? 0)
        return position != nil
    }
}
