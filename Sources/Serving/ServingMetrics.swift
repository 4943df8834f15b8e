import CoreMetrics
import ParamServer
import Synchronization

/// The counters, timers and gauges of a serving process, on swift-metrics: the backend is the
/// `MetricsFactory` given at `init` (`metarec serve` passes swift-prometheus' factory and renders
/// it at `/metrics`; an app that embeds `Serving` passes its own).
///
/// Every handle is created once, in `init`, one per label combination (endpoint × status class,
/// fallback reason): recording looks up nothing and builds no labels, so the scoring hot path
/// stays allocation-free after warm-up (a Prometheus counter is one atomic add, its histogram one
/// locked bucket update).
///
/// The factory is injected rather than taken from `MetricsSystem.bootstrap` so that one process
/// can run several servers (tests, an app serving two models) each with its own registry; the
/// default, `MetricsSystem.factory`, is the process-wide one (a no-op until bootstrapped).
///
/// Names (Prometheus conventions; the module README and the server README list them):
/// `metarec_http_requests_total{endpoint,status}`, `metarec_http_request_duration_seconds{endpoint}`,
/// `metarec_scored_requests_total`, `metarec_finetuned_requests_total`,
/// `metarec_finetune_fallbacks_total{reason}`, `metarec_events_appended_total`,
/// `metarec_autobatch_batches_total`, `metarec_autobatch_requests_total`,
/// `metarec_eviction_sweeps_total`, `metarec_support_store_failures_total{operation,cause}` (a
/// shared support store's failed pulls and appends: `pull`/`append` × `down`/`timeout`/`error`), and the stores' gauges and counters
/// (``recordStores(support:embeddings:)``).
public final class ServingMetrics: Sendable {
    /// What an HTTP request was for (`endpoint` label).
    public enum Endpoint: String, Sendable, CaseIterable {
        case score, events, healthz, metrics, openapi, recommend, other
    }

    /// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implicit. A
    /// histogram backend reads them from ``latencyBucketsLabel`` (swift-metrics timers carry no
    /// buckets of their own).
    public static let latencyBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]

    /// The label of the request-latency timer, for backends that configure buckets per label.
    public static let latencyBucketsLabel = "metarec_http_request_duration_seconds"

    /// The factory every handle was made by (the stores' gauges are made by it too).
    let factory: any MetricsFactory
    /// `[endpoint][status class 2xx/4xx/5xx]`.
    let requests: [Counter]
    /// Per endpoint.
    let latency: [Timer]
    let scoredCounter: Counter
    let finetunedCounter: Counter
    /// Per ``ScoreResult/Fallback`` case, in `allCases` order.
    let fallbackCounters: [Counter]
    let eventsAppended: Counter
    /// Recommendations whose adapted user vector was not finite, so the unadapted one recalled.
    let recallAdaptationFallbacks: Counter
    let batchCounter: Counter
    let batchedRequests: Counter
    let sweeps: Counter
    /// `[operation pull/append][cause]`, causes in ``ParamServer/SupportStoreUnavailable/Cause/allCases`` order.
    let supportFailures: [Counter]
    /// The stores' gauges and the last statistics they were set from.
    let stores: StoreMetrics
    /// A shared support store's round trips, pulls and appends (``recordSharedStore(_:)``).
    let shared: SharedStoreMetrics
    /// In-process readings for tests and benchmarks (a metrics backend is write-only).
    let readings = Mutex(Readings())

    /// - Parameter factory: where the metrics go; the process-wide `MetricsSystem.factory` by default.
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        var requests: [Counter] = [], latency: [Timer] = []
        for endpoint in Endpoint.allCases {
            for status in ["2xx", "4xx", "5xx"] {
                requests.append(Counter(label: "metarec_http_requests_total",
                                        dimensions: [("endpoint", endpoint.rawValue), ("status", status)], factory: factory))
            }
            latency.append(Timer(label: Self.latencyBucketsLabel, dimensions: [("endpoint", endpoint.rawValue)],
                                 preferredDisplayUnit: .seconds, factory: factory))
        }
        self.requests = requests
        self.latency = latency
        scoredCounter = Counter(label: "metarec_scored_requests_total", factory: factory)
        finetunedCounter = Counter(label: "metarec_finetuned_requests_total", factory: factory)
        fallbackCounters = ScoreResult.Fallback.allCases.map {
            Counter(label: "metarec_finetune_fallbacks_total", dimensions: [("reason", $0.rawValue)], factory: factory)
        }
        eventsAppended = Counter(label: "metarec_events_appended_total", factory: factory)
        recallAdaptationFallbacks = Counter(label: "metarec_recall_adaptation_fallbacks_total", factory: factory)
        batchCounter = Counter(label: "metarec_autobatch_batches_total", factory: factory)
        batchedRequests = Counter(label: "metarec_autobatch_requests_total", factory: factory)
        sweeps = Counter(label: "metarec_eviction_sweeps_total", factory: factory)
        stores = StoreMetrics(factory: factory)
        shared = SharedStoreMetrics(factory: factory)
        supportFailures = ["pull", "append"].flatMap { operation in
            SupportStoreUnavailable.Cause.allCases.map {
                Counter(label: "metarec_support_store_failures_total", dimensions: [("operation", operation), ("cause", $0.rawValue)],
                        factory: factory)
            }
        }
    }

    /// Counts one failed call to a shared support store (a pull for a batch, or an append of events).
    public func recordSupportStoreFailure(_ failure: SupportStoreUnavailable, appending: Bool) {
        let causes = SupportStoreUnavailable.Cause.allCases
        supportFailures[(appending ? causes.count : 0) + causes.firstIndex(of: failure.cause)!].increment()
        readings.withLock { $0.supportFailures += 1 }
    }

    /// Failed calls to a shared support store so far (tests).
    public var supportStoreFailures: Int { readings.withLock { $0.supportFailures } }

    /// Counts one HTTP request and its latency.
    public func recordRequest(_ endpoint: Endpoint, status: Int, nanoseconds: Int64) {
        let e = Self.index(endpoint)
        let statusClass = status >= 500 ? 2 : status >= 400 ? 1 : 0
        requests[e * 3 + statusClass].increment()
        latency[e].recordNanoseconds(nanoseconds)
    }

    /// Counts one scored request and, when the base towers served it, why.
    public func recordScore(finetuned: Bool, fallback: ScoreResult.Fallback?) {
        scoredCounter.increment()
        if finetuned { finetunedCounter.increment() }
        let i = fallback.map(Self.index)
        if let i { fallbackCounters[i].increment() }
        readings.withLock { r in
            r.scored += 1
            if finetuned { r.finetuned += 1 }
            if let i { r.fallbacks[i] += 1 }
        }
    }

    /// Counts one recommendation whose adapted user vector `u` was not finite (the recall then
    /// searched with the unadapted `u`).
    public func recordRecallAdaptationFallback() {
        recallAdaptationFallbacks.increment()
        readings.withLock { $0.recallAdaptationFallbacks += 1 }
    }

    /// Recommendations recalled with the unadapted `u` after a non-finite adaptation (tests).
    public var recallAdaptationFallbackCount: Int { readings.withLock { $0.recallAdaptationFallbacks } }

    /// Counts support rows appended from feedback events.
    public func recordEvents(_ rows: Int) {
        eventsAppended.increment(by: rows)
    }

    /// Counts one auto-batch of `requests` merged requests.
    public func recordBatch(requests count: Int) {
        batchCounter.increment()
        batchedRequests.increment(by: count)
        readings.withLock { r in
            r.batches += 1
            r.batchedRequests += count
        }
    }

    /// Counts one periodic eviction sweep.
    public func recordSweep() {
        sweeps.increment()
    }

    /// Fallbacks so far of one kind (tests, benchmarks).
    public func fallbacks(_ kind: ScoreResult.Fallback) -> Int {
        readings.withLock { $0.fallbacks[Self.index(kind)] }
    }

    /// Requests scored so far, and how many of them were fine-tuned.
    public var scored: (total: Int, finetuned: Int) {
        readings.withLock { ($0.scored, $0.finetuned) }
    }

    /// Auto-batches so far and the requests in them.
    public var batches: (batches: Int, requests: Int) {
        readings.withLock { ($0.batches, $0.batchedRequests) }
    }

    static func index(_ e: Endpoint) -> Int { Endpoint.allCases.firstIndex(of: e)! }
    static func index(_ f: ScoreResult.Fallback) -> Int { ScoreResult.Fallback.allCases.firstIndex(of: f)! }

    /// Mirrors of the counters the tests and benchmarks read back.
    struct Readings {
        var scored = 0
        var finetuned = 0
        var batches = 0
        var batchedRequests = 0
        var supportFailures = 0
        var recallAdaptationFallbacks = 0
        var fallbacks = [Int](repeating: 0, count: ScoreResult.Fallback.allCases.count)
    }
}
