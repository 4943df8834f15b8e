/// How long the server waits for a client, how many clients it holds at once and how long a
/// shutdown waits for them (`docs/DESIGN.md` §HTTP, the server README's table of defaults).
///
/// ```
/// connection opened ─ header ─▶ head read ─ body ─▶ body read ─ (handler) ─▶ response sent ─ idle ─▶ next byte ─ header ─▶ …
/// ```
///
/// - `headerTimeout`: from a new connection, or from the first byte of a later request, to the
///   end of the request's head; a client that trickles its head is cut at this deadline.
/// - `bodyTimeout`: from the end of the head to the end of the body, however the bytes trickle.
/// - `idleTimeout`: from a response to the first byte of the next request (keep-alive).
/// - `maxConnections`: open connections beyond it are answered 503 `too_many_connections` and
///   closed at once, before their request is read.
/// - `shutdownGrace`: on a graceful shutdown, the server stops accepting, closes its idle
///   connections and gives each open request this long; then its connection is cut.
///
/// A connection that misses a deadline is closed without a response (the request was never
/// whole). Time the handler spends on a whole request is not bounded here: scoring is bounded
/// by the model's `serving:` limits.
public struct ConnectionLimits: Sendable, Equatable {
    /// From a connection's opening (or a later request's first byte) to the end of the head.
    public var headerTimeout: Duration
    /// From the end of a request's head to the end of its body.
    public var bodyTimeout: Duration
    /// From a response to the first byte of the next request on the connection.
    public var idleTimeout: Duration
    /// Open connections at most; one more is answered 503 and closed.
    public var maxConnections: Int
    /// How long open requests get once a graceful shutdown starts.
    public var shutdownGrace: Duration

    /// The defaults of `metarec serve`: header 10 s, body 30 s, idle 60 s, 1024 connections, grace 10 s.
    ///
    /// - Precondition: every duration > 0 and `maxConnections` ≥ 1 (``ServerSettings`` validates
    ///   outside input before it gets here).
    public init(headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                maxConnections: Int = 1024, shutdownGrace: Duration = .seconds(10)) {
        for (name, value) in [("header", headerTimeout), ("body", bodyTimeout), ("idle", idleTimeout), ("shutdown grace", shutdownGrace)] {
            precondition(value > .zero, "ConnectionLimits: the \(name) timeout \(value) must be positive")
        }
        precondition(maxConnections >= 1, "ConnectionLimits: maxConnections \(maxConnections) must be >= 1")
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.shutdownGrace = shutdownGrace
    }
}
