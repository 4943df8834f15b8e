import Foundation
import ModelDescription
import ModelMath
import ParamServer
import Serving
import Synchronization

/// The HTTP scoring server behind `metarec serve` (`docs/DESIGN.md` §HTTP): the predictor, the
/// auto-batcher, the request limits, the eviction sweep and the support-store snapshot.
/// ``buildApplication(_:log:onServerRunning:)`` turns it into a Hummingbird application.
///
/// Threading: Hummingbird's event loops parse HTTP and JSON; scoring runs on the
/// auto-batcher's worker threads (started just before the server listens, drained after it
/// stops); the sweep runs in a service of the application's `ServiceGroup`.
public final class ScoringServer: Sendable {
    /// Scores requests and records events; shared by every route.
    public let predictor: Predictor
    /// Merges concurrent `/v1/score` requests onto ``ServerConfiguration/workers`` threads.
    public let batcher: AutoBatcher
    /// Where the server listens, its worker threads and its sweep interval.
    public let configuration: ServerConfiguration
    /// `serving.max_body_bytes` of the model's config (413 beyond).
    let maxBodyBytes: Int
    /// Whether the server has listened: a server that never did (say, the port was taken)
    /// served nothing and leaves the model directory's snapshot alone.
    let listened = Atomic<Bool>(false)

    /// A server for `model`.
    ///
    /// - Parameters:
    ///   - model: the served model (``ServingModel/init(_:)`` from a loaded model directory, or a synthetic one).
    ///   - configuration: host, port, workers, sweep interval.
    ///   - settings: adaptation and request limits; `nil` takes them from the model's `serving:` config.
    public init(model: ServingModel, configuration: ServerConfiguration = ServerConfiguration(), settings: ServingSettings? = nil) {
        predictor = Predictor(model: model, settings: settings)
        let serving = model.config.serving
        batcher = AutoBatcher(predictor: predictor, configuration: .init(
            maxRequests: max(1, serving.batchMaxRequests),
            maxWait: .microseconds(max(0, serving.batchMaxWaitMicroseconds)),
            workers: configuration.workers))
        self.configuration = configuration
        maxBodyBytes = serving.maxBodyBytes
    }

    /// One eviction pass over both stores.
    public func sweep() {
        predictor.model.support.sweep()
        predictor.model.embeddings.sweep()
        predictor.metrics.recordSweep()
    }

    /// Writes the support store atomically into the served model version's directory (when served
    /// from one), as `support.served.snapshot`: server state beside the trained files, which stay as trained.
    ///
    /// - Throws: the parameter server's error when the snapshot cannot be written.
    public func snapshot(log: @Sendable (String) -> Void) throws {
        guard let directory = predictor.model.directory else { return }
        try predictor.model.support.snapshot(to: directory.servedSupportPath)
        log("support store snapshot: \(predictor.model.support.count) tasks -> \(directory.servedSupportPath)")
    }
}
