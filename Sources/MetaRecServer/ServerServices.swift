import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the auto-batchers for as long as the group runs: starts the worker threads of every
/// loaded version, and at a graceful shutdown (or cancellation) stops intake and drains what is
/// queued. Placed before the HTTP application in the group, so it drains only after the server
/// has stopped accepting and finished its open requests. (A version loaded by a repository
/// reload starts its own batcher; one unloaded by a reload is drained by the reload.)
struct BatcherService: Service {
    let server: ScoringServer

    func run() async throws {
        for version in server.models.live { version.batcher.start() }
        try? await gracefulShutdown()  // returns on graceful shutdown, throws on cancellation
        for version in server.models.live { await version.batcher.shutdown() }
    }
}

/// Reloads the model repository (`--models DIR`) on SIGHUP and every
/// ``RepositorySettings/pollInterval`` (``RepositoryReloader``); ends at a graceful shutdown or
/// cancellation. Placed after the batchers, so it stops before they drain.
struct RepositoryService: Service {
    let server: ScoringServer
    let reloader: RepositoryReloader

    func run() async throws {
        let (server, reloader) = (server, reloader)
        let interval = reloader.settings.pollInterval
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in hangups { await reloader.reload(server, trigger: .signal) }
                }
                if let interval {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: interval)
                            if Task.isCancelled { break }
                            await reloader.reload(server, trigger: .poll)
                        }
                    }
                }
            }
        }
    }
}

/// The periodic eviction sweep of the support store and the embedding table (the server's one
/// timer); ends at a graceful shutdown or cancellation.
struct SweepService: Service {
    let server: ScoringServer

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
    }
}

/// The shutdown snapshot of the support store into the state directory: first in the group, so
/// the last to stop; it writes once every other service (the HTTP server, the sweeper, the
/// batcher's drain) has finished, and only when the server listened (a server that never did
/// served nothing and leaves an earlier snapshot alone).
struct SnapshotService: Service {
    let server: ScoringServer

    func run() async throws {
        try? await gracefulShutdown()
        guard server.listened.load(ordering: .relaxed) else {
            server.logger.notice("the server never listened: no snapshot")
            server.eventLog?.close()
            return
        }
        defer { server.eventLog?.close() }
        try server.snapshot()
        server.logger.info("shutdown complete")
    }
}

/// The periodic snapshot that truncates the event log (``ServerConfiguration/snapshotInterval``),
/// only with a state directory and only when events were logged since the last; a failure is
/// logged (the log still holds the events) and retried at the next period. Ends at a graceful
/// shutdown or cancellation.
struct PeriodicSnapshotService: Service {
    let server: ScoringServer

    func run() async throws {
        guard let log = server.eventLog else {
            try? await gracefulShutdown()  // nothing to do, but ending early would shut the group down
            return
        }
        let server = server
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: server.configuration.snapshotInterval)
                if Task.isCancelled { break }
                guard log.hasUncoveredRecords else { continue }
                do {
                    try server.snapshot()
                } catch {
                    server.logger.error("periodic snapshot failed; the event log keeps the events", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
