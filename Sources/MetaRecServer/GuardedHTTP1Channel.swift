import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Hummingbird's HTTP/1.1 child channel with the server's ``ConnectionLimits`` around it: each
/// accepted connection is counted against the cap (``ConnectionAdmissionHandler``, first in the
/// pipeline, answers one beyond it with 503) and gets the read, idle and shutdown deadlines
/// (``ConnectionDeadlineHandler``, after the HTTP decoder).
///
/// ```
/// socket ─▶ ConnectionAdmissionHandler ─▶ HTTP/1.1 decoder ─▶ ConnectionDeadlineHandler ─▶ Hummingbird
///           (cap; "bytes arrived")                            (header/body/idle/grace timers)
/// ```
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let connections: OpenConnections

    let metrics: ConnectionMetrics

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, connections: OpenConnections,
         metrics: ConnectionMetrics, logger: Logger) {
        self.limits = limits
        self.connections = connections
        self.metrics = metrics
        // Hummingbird's own idle timeout stays off: the deadline handler keeps every timer.
        http1 = HTTP1Channel(responder: responder, configuration: .init(
            additionalChannelHandlers: [ConnectionDeadlineHandler(limits: limits, metrics: metrics, logger: logger)]))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = connections.admit(limit: limits.maxConnections)
        if admitted {
            let (connections, open) = (connections, metrics.open)
            open.record(connections.current)
            channel.closeFuture.whenComplete { _ in
                connections.release()
                open.record(connections.current)
            }
        } else {
            metrics.refused.increment()
        }
        do {
            let admission = ConnectionAdmissionHandler(admitted: admitted, limit: limits.maxConnections, logger: logger)
            try channel.pipeline.syncOperations.addHandler(admission, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// The number of open connections a server admitted (refused ones are not counted).
final class OpenConnections: Sendable {
    private let count = Mutex(0)

    /// Counts one more connection unless `limit` are open; whether it was admitted.
    func admit(limit: Int) -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    /// An admitted connection closed.
    func release() {
        count.withLock { $0 -= 1 }
    }

    /// Connections open now.
    var current: Int { count.withLock { $0 } }
}
