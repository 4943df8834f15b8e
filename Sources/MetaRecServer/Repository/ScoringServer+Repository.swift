import Foundation
import Logging
import ModelDescription
import ParamServer
import Prometheus
import Serving

extension ScoringServer {
    /// A server over a model repository (`metarec serve --models DIR`, `docs/DESIGN.md` §Model
    /// repository): scans `repository.root`, resolves the split (``Serving/RoutingPlan``) and
    /// loads every served version, each with its own predictor, auto-batcher and support store
    /// (keyed by its model version). The repository is only read.
    ///
    /// - Throws: ``Serving/ModelRepositoryError`` for an unreadable root, a malformed `LABELS`, no
    ///   or an ambiguous model, a split naming what is not there, or a served version directory that
    ///   does not load (`.unloadable`, naming its path).
    public static func repository(_ repository: RepositorySettings, configuration: ServerConfiguration = ServerConfiguration(),
                                  logger: Logger = Logger(label: "metarec"),
                                  registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) throws(ModelRepositoryError) -> ScoringServer {
        let scan = try repository.scan()
        let plan = try RoutingPlan(model: scan, weights: repository.weights)
        var versions: [Int: ServedVersion] = [:]
        for v in plan.served {
            let model = try loadModel(repository.path(name: scan.name, version: v), supportPrecision: repository.supportPrecision)
            versions[v] = makeVersion(model, version: v, name: scan.name, configuration: configuration, settings: nil,
                                      logger: logger, registry: registry)
        }
        logger.info("model repository loaded", metadata: metadata(scan.name, plan, versions))
        return ScoringServer(models: ServedModels(name: scan.name, plan: plan, versions: versions),
                             reloader: RepositoryReloader(settings: repository, scan: scan), configuration: configuration,
                             settings: nil, logger: logger, registry: registry, recommender: nil)
    }

    /// Re-reads the model repository, as SIGHUP does (``RepositoryReloader``): once the reloads
    /// already running or asked for have finished, then returns once the versions it retired are
    /// unloaded.
    ///
    /// - Returns: whether a new routing table was installed; `false` without a repository
    ///   (`--model DIR`) or when the reload failed (logged; the loaded versions keep serving).
    @discardableResult
    public func reloadModels() async -> Bool {
        guard let reloader else { return false }
        return await reloader.reload(self, trigger: .signal)
    }

    /// The model directory at `path`, loaded for serving (support rows at `supportPrecision`,
    /// `nil`: the model's own).
    static func loadModel(_ path: String, supportPrecision: SupportPrecision?) throws(ModelRepositoryError) -> ServingModel {
        do {
            return ServingModel(try LoadedModel(path: path, supportPrecision: supportPrecision))
        } catch {
            throw .unloadable(path: path, reason: "\(error)")
        }
    }

    /// Log metadata of a routing table: the versions served (with their model version ids), the
    /// split and the primary.
    static func metadata(_ name: String, _ plan: RoutingPlan, _ versions: [Int: ServedVersion]) -> Logger.Metadata {
        [
            "model": "\(name)",
            "served": "\(plan.served.map { "\($0)=\(versions[$0]?.predictor.model.modelVersion ?? "?")" }.joined(separator: ","))",
            "split": "\(plan.split.arms.map { "\($0.version)=\($0.weight)" }.joined(separator: ","))",
            "labels": "\(plan.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "primary": "\(plan.primary)",
        ]
    }

    /// Waits until no request holds `version` any more, then drains its auto-batcher and stops
    /// its threads (the predictor is freed with the last reference). A cancelled wait (the
    /// server shutting down) goes straight to the drain, which still finishes queued requests.
    func unload(_ version: ServedVersion) async {
        while version.inFlight.load(ordering: .acquiring) > 0 {
            do { try await Task.sleep(for: .milliseconds(2)) } catch { break }
        }
        await version.batcher.shutdown()
        logger.info("model version unloaded", metadata: [
            "model": "\(models.name ?? "")", "version": "\(version.version.map(String.init) ?? "")",
            "model_version": "\(version.predictor.model.modelVersion)",
        ])
    }
}

/// Re-reads a model repository and swaps what it serves (``ScoringServer/repository(_:configuration:logger:registry:)``),
/// strictly one reload at a time.
///
/// A reload scans the root, resolves the split, loads the served versions that are not loaded
/// yet (beside the running ones, off the request path) and installs the new routing table in one
/// step (``ServedModels/install(name:plan:versions:over:)``); versions that left it are unloaded
/// once their in-flight requests have finished. Anything wrong (unreadable root, malformed
/// `LABELS`, a split naming what is gone, a version that does not load) is logged at `error` and
/// the reload abandoned: the loaded versions keep serving.
///
/// Reloads are chained: a reload asked for (SIGHUP, the poll, ``ScoringServer/reloadModels()``)
/// while another runs waits for it to finish, unload included, then scans afresh; so a reload
/// always plans against the table the previous one left, never loads a version a previous
/// reload already loaded, and never puts back a retired version. A poll reloads only when the scan differs from the one
/// last installed, so a version that failed to load is retried every poll (the same failure is
/// logged at `error` once, then at `debug`); SIGHUP always reloads.
actor RepositoryReloader {
    /// What started a reload.
    enum Trigger: String, Sendable {
        case poll, signal
    }

    /// A reload that failed: its scan (`nil`: the scan itself failed) and its error.
    private struct Failure: Equatable {
        var scan: ModelRepository.Model?
        var error: String
    }

    let settings: RepositorySettings
    /// The scan of the routing table installed last (or of the start).
    private var installed: ModelRepository.Model
    /// The last failure logged at `error`: the poll logs the same failure again only at `debug`.
    private var logged: Failure?
    /// The reload asked for last (running or waiting): the next one waits for it.
    private var tail: Task<Bool, Never>?

    init(settings: RepositorySettings, scan: ModelRepository.Model) {
        self.settings = settings
        installed = scan
    }

    /// One reload (see the type's description), after the reloads asked for before it; returns
    /// whether a new routing table was installed. Cancelling the caller cancels its reload: not
    /// started yet, it is skipped; running, it stops waiting for in-flight requests before the drain.
    @discardableResult
    func reload(_ server: ScoringServer, trigger: Trigger) async -> Bool {
        let previous = tail
        let next = Task { () -> Bool in
            _ = await previous?.value
            return await self.reloadNow(server, trigger: trigger)
        }
        tail = next
        return await withTaskCancellationHandler { await next.value } onCancel: { next.cancel() }
    }

    /// The reload itself: only ever one running (``reload(_:trigger:)`` chains them).
    private func reloadNow(_ server: ScoringServer, trigger: Trigger) async -> Bool {
        guard !Task.isCancelled else { return false }
        var scanned: ModelRepository.Model?
        do {
            let scan = try settings.scan()
            scanned = scan
            guard trigger == .signal || scan != installed else { return false }
            guard try await swap(to: scan, server: server, trigger: trigger) else { return false }
            installed = scan
            logged = nil
            return true
        } catch {
            let failure = Failure(scan: scanned, error: "\(error)")
            let again = trigger == .poll && failure == logged
            server.logger.log(level: again ? .debug : .error, "model repository reload failed; the loaded versions keep serving: \(error)",
                              metadata: ["trigger": "\(trigger.rawValue)", "models": "\(settings.root)"])
            logged = failure
            return false
        }
    }

    /// Resolves the split of `scan`, loads what is missing, installs the table and unloads what
    /// left it.
    ///
    /// - Returns: `false` when the table changed while the versions loaded (logged; nothing installed).
    /// - Throws: ``Serving/ModelRepositoryError`` for a split naming what is gone or a version that does not load.
    private func swap(to scan: ModelRepository.Model, server: ScoringServer, trigger: Trigger) async throws(ModelRepositoryError) -> Bool {
        let logger = server.logger
        let plan = try RoutingPlan(model: scan, weights: settings.weights)
        let current = server.models.snapshot
        var versions = current.versions.filter { plan.served.contains($0.key) }
        let added = plan.served.filter { versions[$0] == nil }
        for v in added {
            let (path, precision) = (settings.path(name: scan.name, version: v), settings.supportPrecision)
            let model = try await Self.offPool { () throws(ModelRepositoryError) in try ScoringServer.loadModel(path, supportPrecision: precision) }
            versions[v] = ScoringServer.makeVersion(model, version: v, name: scan.name, configuration: server.configuration,
                                                    settings: server.settings, logger: logger, registry: server.registry)
        }
        for v in added {
            versions[v]!.batcher.start()
            server.seed(versions[v]!)
        }
        guard let retired = server.models.install(name: scan.name, plan: plan, versions: versions, over: current.generation) else {
            // Unreachable while reloads are chained; kept so a stale plan can never serve a retired version.
            logger.error("model repository reload abandoned: the routing table changed while it loaded",
                         metadata: ["trigger": "\(trigger.rawValue)", "models": "\(settings.root)"])
            for v in added { await versions[v]!.batcher.shutdown() }
            return false
        }
        var metadata = ScoringServer.metadata(scan.name, plan, versions)
        metadata["trigger"] = "\(trigger.rawValue)"
        metadata["loaded"] = "\(added.map(String.init).joined(separator: ","))"
        metadata["unloading"] = "\(retired.compactMap(\.version).map(String.init).joined(separator: ","))"
        logger.info("model repository reloaded", metadata: metadata)
        for version in retired { await server.unload(version) }
        return true
    }

    /// Runs `body` on a Dispatch thread: loading a model reads and decodes files for a while,
    /// which the cooperative pool (shared with the HTTP routes) should not wait for.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws(ModelRepositoryError) -> T) async throws(ModelRepositoryError) -> T {
        let result: Result<T, ModelRepositoryError> = await withCheckedContinuation { done in
            DispatchQueue.global().async { done.resume(returning: Result { () throws(ModelRepositoryError) in try body() }) }
        }
        return try result.get()
    }
}
