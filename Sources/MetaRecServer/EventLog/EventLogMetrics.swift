import CoreMetrics

/// The event log's metrics (server README, Metrics), on the server's factory; every handle is
/// made once.
///
/// `metarec_event_log_bytes` (gauge: bytes of the segments not yet covered by a snapshot),
/// `metarec_event_log_records_total` (records appended), `metarec_event_log_fsync_duration_seconds`
/// (histogram of fsyncs of the log; its count is the number of fsyncs),
/// `metarec_event_log_write_failures_total` (writes or fsyncs that failed: the events got a 503),
/// `metarec_event_log_replayed_records` / `_replayed_rows` (gauges: replayed at the last start),
/// `metarec_event_log_damaged_segments_total` (torn tails and corrupt records cut at start).
struct EventLogMetrics: Sendable {
    static let fsyncLabel = "metarec_event_log_fsync_duration_seconds"
    /// Upper bounds (seconds) of the fsync histogram's buckets.
    static let fsyncBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    let bytes: Gauge
    let records: Counter
    let fsyncs: Timer
    let failures: Counter
    let replayedRecords: Gauge
    let replayedRows: Gauge
    let damaged: Counter

    init(factory: any MetricsFactory) {
        bytes = Gauge(label: "metarec_event_log_bytes", factory: factory)
        records = Counter(label: "metarec_event_log_records_total", factory: factory)
        fsyncs = Timer(label: Self.fsyncLabel, preferredDisplayUnit: .seconds, factory: factory)
        failures = Counter(label: "metarec_event_log_write_failures_total", factory: factory)
        replayedRecords = Gauge(label: "metarec_event_log_replayed_records", factory: factory)
        replayedRows = Gauge(label: "metarec_event_log_replayed_rows", factory: factory)
        damaged = Counter(label: "metarec_event_log_damaged_segments_total", factory: factory)
    }
}
