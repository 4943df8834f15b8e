import CoreMetrics
import ParamServer
import Synchronization

extension ServingMetrics {
    /// The stores' gauges, and their monotone statistics as counters: swift-metrics has no
    /// callback gauges, so they are set from the stores' statistics when a scrape or a sweep
    /// asks (``recordStores(support:embeddings:)``); the counters advance by the difference
    /// since the last reading.
    ///
    /// `metarec_support_store_entries`, `_rows`, `_bytes`, `_bytes_per_user` (gauges; the last is
    /// the bytes charged to stored tasks over their count: what one more user costs);
    /// `metarec_support_store_evictions_total`, `_expired_tasks_total`, `_expired_rows_total`;
    /// `metarec_embedding_rows` (gauge), `metarec_embedding_rows_reclaimed_total`.
    final class StoreMetrics: Sendable {
        let supportEntries: Gauge
        let supportRows: Gauge
        let supportBytes: Gauge
        let supportBytesPerUser: Gauge
        let supportEvictions: Counter
        let supportExpiredTasks: Counter
        let supportExpiredRows: Counter
        let embeddingRows: Gauge
        let embeddingReclaimed: Counter
        /// The counters' values last reported: evictions, expired tasks, expired rows, reclaimed embedding rows.
        let reported = Mutex<[Int]>([0, 0, 0, 0])

        init(factory: any MetricsFactory) {
            supportEntries = Gauge(label: "metarec_support_store_entries", factory: factory)
            supportRows = Gauge(label: "metarec_support_store_rows", factory: factory)
            supportBytes = Gauge(label: "metarec_support_store_bytes", factory: factory)
            supportBytesPerUser = Gauge(label: "metarec_support_store_bytes_per_user", factory: factory)
            supportEvictions = Counter(label: "metarec_support_store_evictions_total", factory: factory)
            supportExpiredTasks = Counter(label: "metarec_support_store_expired_tasks_total", factory: factory)
            supportExpiredRows = Counter(label: "metarec_support_store_expired_rows_total", factory: factory)
            embeddingRows = Gauge(label: "metarec_embedding_rows", factory: factory)
            embeddingReclaimed = Counter(label: "metarec_embedding_rows_reclaimed_total", factory: factory)
        }
    }

    /// Sets the stores' gauges from their current statistics and advances their counters
    /// (support-store tasks, rows, bytes, evictions, expiries; embedding rows, reclaimed rows).
    /// Called before each `/metrics` scrape and after each sweep; safe from several threads.
    public func recordStores(support: SupportStore?, embeddings: EmbeddingStore?) {
        let s = support?.statistics, e = embeddings?.statistics
        if let s {
            stores.supportEntries.record(s.tasks)
            stores.supportRows.record(s.rows)
            stores.supportBytes.record(s.bytes)
            stores.supportBytesPerUser.record(s.bytesPerTask)
        }
        if let e { stores.embeddingRows.record(e.rows) }
        let current = [s?.tasksEvicted, s?.tasksExpired, s?.rowsExpired, e?.rowsReclaimed]
        let counters = [stores.supportEvictions, stores.supportExpiredTasks, stores.supportExpiredRows, stores.embeddingReclaimed]
        stores.reported.withLock { reported in
            for i in 0..<current.count {
                guard let value = current[i], value > reported[i] else { continue }
                counters[i].increment(by: value - reported[i])
                reported[i] = value
            }
        }
    }
}
