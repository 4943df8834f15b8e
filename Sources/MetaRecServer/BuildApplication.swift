import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import UnixSignals

/// The HTTP application of `server`: its routes (`POST /v1/score`, `POST /v1/events`,
/// `GET /healthz`, `GET /metrics`, `GET /openapi.yaml`, `docs/DESIGN.md` §HTTP) on Hummingbird 2,
/// logging through the server's logger, with the connection limits of
/// ``ServerConfiguration/limits`` (read timeouts, the connection cap, the shutdown grace:
/// ``GuardedHTTP1Channel``). It does not start the auto-batcher: run it inside
/// ``makeServiceGroup(_:services:signals:onServerRunning:)``, which adds the batcher, the
/// sweeper and the shutdown snapshot around it.
///
/// - Parameters:
///   - server: the predictor, batcher and configuration to serve.
///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
/// - Returns: the application; it runs once.
public func buildApplication(
    _ server: ScoringServer, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = server.configuration
    let (limits, logger, connections) = (configuration.limits, server.logger, OpenConnections())
    let metrics = ConnectionMetrics(factory: ScoringServer.metricsFactory(server.registry))
    return Application(
        router: server.makeRouter(),
        server: HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, limits: limits, connections: connections, metrics: metrics, logger: logger)
        },
        configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                             serverName: configuration.serverName),
        onServerRunning: { channel in
            server.listened.store(true, ordering: .relaxed)
            let port = channel.localAddress?.port ?? configuration.port
            server.logger.info("listening", metadata: [
                "address": "http://\(configuration.host):\(port)", "model_version": "\(server.predictor.model.modelVersion)",
            ])
            await onServerRunning(port)
        },
        logger: server.logger)
}

/// The whole server as one swift-service-lifecycle `ServiceGroup`, in this order:
///
/// ```
/// SnapshotService   support store → <state>/support.snapshot        stops last
/// BatcherService    auto-batcher threads; drains at shutdown
/// SweepService      eviction sweep every sweep interval
/// PeriodicSnapshotService  snapshot + event-log truncation every snapshot interval (with --state)
/// RepositoryService reloads of the model repository on SIGHUP and every poll (with --models)
/// services…         the caller's own
/// Application       Hummingbird: stops accepting, finishes open requests   stops first
/// ```
///
/// A graceful shutdown (one of `signals`, or `triggerGracefulShutdown()`) stops the services in
/// reverse order, each after the one below it has finished: the server stops accepting and
/// answers its open requests, the batcher finishes the queued ones, and the snapshot is taken
/// last, so every acknowledged event is in it. Any service that ends, or fails, shuts the rest
/// down the same way (the error is rethrown by `run()`).
///
/// - Parameters:
///   - server: the server to run (once).
///   - services: more services to run with it (between the sweeper and the HTTP server).
///   - signals: Unix signals that start a graceful shutdown (`metarec serve`: SIGTERM, SIGINT);
///     none in tests.
///   - onServerRunning: called with the bound port once the server listens.
public func makeServiceGroup(
    _ server: ScoringServer, services: [any Service] = [], signals: [UnixSignal] = [],
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> ServiceGroup {
    let repository: [any Service] = server.reloader.map { [RepositoryService(server: server, reloader: $0)] } ?? []
    let ordered: [any Service] = [SnapshotService(server: server), BatcherService(server: server), SweepService(server: server),
                                  PeriodicSnapshotService(server: server)] + repository
        + services + [buildApplication(server, onServerRunning: onServerRunning)]
    return ServiceGroup(configuration: .init(
        services: ordered.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                                      failureTerminationBehavior: .gracefullyShutdownGroup) },
        gracefulShutdownSignals: signals, cancellationSignals: [], logger: server.logger))
}
