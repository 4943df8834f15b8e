import Logging
import NIOCore
import NIOHTTPTypes

/// One connection's deadlines (``ConnectionLimits``), after the HTTP/1.1 decoder: it sees each
/// request's head, body and end, each response's end, and ``RequestBytesArrived`` from
/// ``ConnectionAdmissionHandler``. One timer per connection, re-armed at each phase:
///
/// ```
/// phase     starts at                                   deadline
/// head      connection opened; first byte after idle    header timeout
/// body      request head read                           body timeout (whole body, however it trickles)
/// handler   request end read, response pending          none (the route's own limits)
/// idle      response end, request already read          idle timeout
/// ```
///
/// A missed deadline closes the connection without a response (the request never arrived
/// whole). Placed before Hummingbird's `HTTPConnectionStateHandler`, it also sees the
/// server's `ChannelShouldQuiesceEvent` at a graceful shutdown: the state handler then closes
/// idle connections and lets open requests finish, and this one cuts the connection when
/// ``ConnectionLimits/shutdownGrace`` has passed, so a client holding a half-sent body cannot
/// keep the shutdown (and the snapshot after it) waiting.
///
/// Threading: lives on the connection's event loop, as do its timers.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Phase: String {
        case head, body, handler, idle
    }

    let limits: ConnectionLimits
    let metrics: ConnectionMetrics
    let logger: Logger
    private(set) var phase = Phase.head
    /// Requests whose head was read and whose response has not ended.
    private var pendingResponses = 0
    private var timer: Scheduled<Void>?
    private var graceTimer: Scheduled<Void>?

    init(limits: ConnectionLimits, metrics: ConnectionMetrics, logger: Logger) {
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        enter(.head, context)  // the first request's head is due within the header timeout
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        graceTimer?.cancel()
        timer = nil
        graceTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            pendingResponses += 1
            enter(.body, context)
        case .body:
            break
        case .end:
            enter(pendingResponses > 0 ? .handler : .idle, context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            pendingResponses = max(0, pendingResponses - 1)
            // A response sent before its body was read (413, 415, 401) leaves the body deadline on.
            if pendingResponses == 0, phase == .handler { enter(.idle, context) }
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesArrived {
            if phase == .idle { enter(.head, context) }
            return
        }
        if event is ChannelShouldQuiesceEvent { startGrace(context) }
        context.fireUserInboundEventTriggered(event)
    }

    /// Moves to `next` and re-arms the timer for its deadline (none in `.handler`).
    private func enter(_ next: Phase, _ context: ChannelHandlerContext) {
        phase = next
        timer?.cancel()
        timer = nil
        let timeout: Duration
        switch next {
        case .head: timeout = limits.headerTimeout
        case .body: timeout = limits.bodyTimeout
        case .idle: timeout = limits.idleTimeout
        case .handler: return
        }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            timer = nil
            metrics.timeouts(in: phase)?.increment()
            // Idle expiry is routine keep-alive housekeeping; a slow head or body is worth a record.
            logger.log(level: phase == .idle ? .debug : .info, "connection closed: \(phase.rawValue) timeout",
                       metadata: ["phase": "\(phase.rawValue)", "timeout": "\(timeout)"])
            context.close(promise: nil)
        }
    }

    /// At a graceful shutdown: the connection is cut after the grace, whatever it is doing.
    private func startGrace(_ context: ChannelHandlerContext) {
        guard graceTimer == nil else { return }
        graceTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(limits.shutdownGrace)) { [self] in
            graceTimer = nil
            metrics.cutAtShutdown.increment()
            logger.notice("shutdown grace over: connection cut", metadata: ["phase": "\(phase.rawValue)",
                                                                            "grace": "\(limits.shutdownGrace)"])
            context.close(promise: nil)
        }
    }
}
