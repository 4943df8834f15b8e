import ServiceLifecycle
import Synchronization

/// The scoring server's own work beside the HTTP server in the application's `ServiceGroup`:
/// the periodic eviction sweep while serving; at shutdown, the auto-batcher's drain and the
/// support-store snapshot.
///
/// Order at a graceful shutdown (SIGTERM/SIGINT): `ServiceGroup` stops services in reverse
/// order and Hummingbird adds its HTTP server after the application's services, so the server
/// drains its open connections first, and only then does this service stop the batcher (which
/// finishes the queued requests) and write the snapshot. On cancellation everything stops at
/// once: queued requests still finish, later ones get 503 `shutting_down`.
struct ServerMaintenance: Service {
    let server: ScoringServer
    let log: @Sendable (String) -> Void

    func run() async throws {
        let server = server
        // The sleep ends early on graceful shutdown or cancellation.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: server.configuration.sweepInterval)
                if Task.isCancelled { break }
                server.sweep()
            }
        }
        await server.batcher.shutdown()
        if server.listened.load(ordering: .relaxed) {
            try server.snapshot(log: log)
        }
    }
}
