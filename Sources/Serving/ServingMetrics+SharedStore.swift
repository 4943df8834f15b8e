import CoreMetrics
import ParamServer
import Synchronization

extension ServingMetrics {
    /// A shared (Redis) support store's own counters, advanced from its statistics at each
    /// scrape: `metarec_support_store_round_trips_total` (pipelined round trips that completed:
    /// one per auto-batch that pulled, one per events request), `metarec_support_store_pulled_tasks_total`,
    /// `metarec_support_store_appended_rows_total`, `metarec_support_store_skipped_rows_total` (pulled
    /// list elements of neither row length, skipped).
    final class SharedStoreMetrics: Sendable {
        let counters: [Counter]
        /// The values last reported: round trips, pulled tasks, appended rows, skipped rows.
        let reported = Mutex<[Int]>([0, 0, 0, 0])

        init(factory: any MetricsFactory) {
            counters = ["metarec_support_store_round_trips_total", "metarec_support_store_pulled_tasks_total",
                        "metarec_support_store_appended_rows_total", "metarec_support_store_skipped_rows_total"].map { Counter(label: $0, factory: factory) }
        }
    }

    /// Advances the shared store's counters to `statistics` (called before each `/metrics` scrape).
    public func recordSharedStore(_ statistics: RedisSupportStatistics) {
        let current = [statistics.roundTrips, statistics.pulls, statistics.rowsAppended, statistics.skippedRows]
        shared.reported.withLock { reported in
            for i in current.indices where current[i] > reported[i] {
                shared.counters[i].increment(by: current[i] - reported[i])
                reported[i] = current[i]
            }
        }
    }
}
