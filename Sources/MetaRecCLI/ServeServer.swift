#if HTTPServer  // the package trait (on by default): `metarec serve` needs Hummingbird
import Foundation
import Hummingbird
import ModelDescription
import ModelMath
import ParamServer
import Serving

/// The HTTP scoring server behind `metarec serve` (`docs/DESIGN.md` §HTTP): routes, limits, the
/// auto-batcher, the periodic eviction sweep, and the graceful shutdown that drains in-flight
/// requests and snapshots the support store into the model directory.
///
/// Threading: Hummingbird's event loops parse HTTP and JSON; scoring runs on the
/// auto-batcher's worker threads; the sweep runs as a child task of ``run(host:port:onRunning:)``.
final class ScoringServer: Sendable {
    let predictor: Predictor
    let batcher: AutoBatcher
    /// Seconds between `support.sweep()` / `embeddings.sweep()` passes.
    let sweepInterval: Duration
    let maxBodyBytes: Int

    init(model: ServingModel, workers: Int, sweepInterval: Duration, settings: ServingSettings? = nil) {
        predictor = Predictor(model: model, settings: settings)
        let serving = model.config.serving
        batcher = AutoBatcher(predictor: predictor, configuration: .init(
            maxRequests: max(1, serving.batchMaxRequests),
            maxWait: .microseconds(max(0, serving.batchMaxWaitMicroseconds)),
            workers: max(1, workers)))
        self.sweepInterval = sweepInterval
        maxBodyBytes = serving.maxBodyBytes
    }

    /// Serves until SIGTERM/SIGINT (or the task is cancelled), then drains and snapshots.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (port 0 picks one).
    func run(host: String, port: Int, log: @escaping @Sendable (String) -> Void = { _ in },
             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        batcher.start()
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "metarec"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: sweepInterval)
                    if Task.isCancelled { break }
                    sweep()
                }
            }
            defer { group.cancelAll() }
            try await app.runService()
        }
        // runService returns after the graceful shutdown has drained open connections.
        await batcher.shutdown()
        try snapshot(log: log)
    }

    /// One eviction pass over both stores.
    func sweep() {
        predictor.model.support.sweep()
        predictor.model.embeddings.sweep()
        predictor.metrics.recordSweep()
    }

    /// Writes the support store atomically into the model directory (when served from one).
    func snapshot(log: @Sendable (String) -> Void) throws {
        guard let directory = predictor.model.directory else { return }
        try predictor.model.support.snapshot(to: directory.supportPath)
        log("support store snapshot: \(predictor.model.support.count) tasks -> \(directory.supportPath)")
    }
}
#endif
