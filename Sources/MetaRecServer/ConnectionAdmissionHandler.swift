import Logging
import NIOCore

/// First in a connection's pipeline, on raw bytes: refuses a connection beyond the cap, and tells
/// ``ConnectionDeadlineHandler`` when request bytes arrive (``RequestBytesArrived``), which it
/// cannot see itself before a request's head is whole.
///
/// A refused connection is answered at once, before its request is read: 503
/// `too_many_connections` with `Connection: close` and `Retry-After: 1`; then its output is
/// shut, whatever it sends is discarded, and it is closed when the client closes or after
/// ``linger``, so the answer is not lost to a reset of unread input.
final class ConnectionAdmissionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// How long a refused connection is kept to let its client read the 503.
    static let linger = TimeAmount.seconds(1)

    let admitted: Bool
    let limit: Int
    let logger: Logger
    private var answered = false

    init(admitted: Bool, limit: Int, logger: Logger) {
        self.admitted = admitted
        self.limit = limit
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuseIfOverCap(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuseIfOverCap(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted else { return }  // a refused connection's request is never read
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !admitted, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Writes the 503 and shuts the output of a connection beyond the cap (once).
    private func refuseIfOverCap(_ context: ChannelHandlerContext) {
        guard !admitted, !answered else { return }
        answered = true
        // Debug: under a flood, one record per refused connection would be the flood again.
        logger.debug("connection refused: the server has its maximum of open connections", metadata: ["max_connections": "\(limit)"])
        let body = #"{"error":{"code":"too_many_connections","message":"the server has \#(limit) open connections, its limit; retry later"}}"#
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\nRetry-After: 1\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + body.utf8.count)
        buffer.writeString(head + body)
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        context.close(mode: .output, promise: nil)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
    }
}

/// Request bytes reached a connection (fired before they go to the HTTP decoder).
struct RequestBytesArrived {}
