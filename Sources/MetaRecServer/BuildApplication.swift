import Hummingbird
import ModelDescription
import ModelMath
import Serving
import Synchronization

/// Builds the HTTP scoring application for `model`: `POST /v1/score`, `POST /v1/events`,
/// `GET /healthz`, `GET /metrics` (`docs/DESIGN.md` §HTTP), Hummingbird 2's `buildApplication` pattern.
///
/// Run it with `runService()` (graceful shutdown on SIGTERM/SIGINT, as `metarec serve` does),
/// or add it to an embedding app's own `ServiceGroup`. On shutdown the HTTP server drains its
/// connections first; then the auto-batcher finishes the queued requests and the support store
/// is snapshotted into the model directory (when served from one).
///
/// ```swift
/// let app = buildApplication(model: ServingModel(try LoadedModel(path: "model/")),
///                            configuration: ServerConfiguration(host: "127.0.0.1", port: 8080))
/// try await app.runService()
/// ```
///
/// - Parameters:
///   - model: the served model.
///   - configuration: host, port, auto-batcher workers, sweep interval.
///   - settings: adaptation and request limits; `nil` takes them from the model's `serving:` config.
///   - log: one line per lifecycle event (the snapshot written at shutdown).
///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
/// - Returns: the application; it runs once.
public func buildApplication(
    model: ServingModel, configuration: ServerConfiguration = ServerConfiguration(), settings: ServingSettings? = nil,
    log: @escaping @Sendable (String) -> Void = { _ in },
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    buildApplication(ScoringServer(model: model, configuration: configuration, settings: settings),
                     log: log, onServerRunning: onServerRunning)
}

/// Builds the HTTP scoring application around `server`, for callers that keep the server
/// (to read its metrics, sweep or snapshot by hand). One application per server: a server runs once.
///
/// - Parameters:
///   - server: the predictor, batcher and configuration to serve.
///   - log: one line per lifecycle event (the snapshot written at shutdown).
///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
/// - Returns: the application: the routes, the auto-batcher started just before the server
///   listens, and the ``ServerMaintenance`` service (sweeps; drain and snapshot at shutdown).
public func buildApplication(
    _ server: ScoringServer, log: @escaping @Sendable (String) -> Void = { _ in },
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = server.configuration
    var app = Application(
        router: server.makeRouter(),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                             serverName: configuration.serverName),
        services: [ServerMaintenance(server: server, log: log)],
        onServerRunning: { channel in
            server.listened.store(true, ordering: .relaxed)
            await onServerRunning(channel.localAddress?.port ?? configuration.port)
        })
    app.beforeServerStarts { server.batcher.start() }
    return app
}
