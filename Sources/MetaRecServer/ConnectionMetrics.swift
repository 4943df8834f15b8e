import CoreMetrics

/// What the connection handlers count, on the server's registry (``ScoringServer/registry``,
/// so at `GET /metrics`): refusals beyond the cap are logged at `debug` only, and these are how
/// an operator sees them.
///
/// | name | type | labels |
/// | --- | --- | --- |
/// | `metarec_http_open_connections` | gauge | |
/// | `metarec_http_connections_refused_total` | counter | |
/// | `metarec_http_connection_timeouts_total` | counter | `phase` (head, body, idle) |
/// | `metarec_http_connections_cut_at_shutdown_total` | counter | |
struct ConnectionMetrics: Sendable {
    let open: Gauge
    let refused: Counter
    let headTimeouts: Counter
    let bodyTimeouts: Counter
    let idleTimeouts: Counter
    let cutAtShutdown: Counter

    init(factory: any MetricsFactory) {
        open = Gauge(label: "metarec_http_open_connections", factory: factory)
        refused = Counter(label: "metarec_http_connections_refused_total", factory: factory)
        func timeouts(_ phase: String) -> Counter {
            Counter(label: "metarec_http_connection_timeouts_total", dimensions: [("phase", phase)], factory: factory)
        }
        headTimeouts = timeouts("head")
        bodyTimeouts = timeouts("body")
        idleTimeouts = timeouts("idle")
        cutAtShutdown = Counter(label: "metarec_http_connections_cut_at_shutdown_total", factory: factory)
    }

    /// The timeout counter of `phase` (`nil` for the handler phase, which has none).
    func timeouts(in phase: ConnectionDeadlineHandler.Phase) -> Counter? {
        switch phase {
        case .head: headTimeouts
        case .body: bodyTimeouts
        case .idle: idleTimeouts
        case .handler: nil
        }
    }
}
