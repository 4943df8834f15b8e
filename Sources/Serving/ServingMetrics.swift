import Synchronization

/// Counters and the latency histogram of a serving process, exposed as Prometheus text
/// (``prometheusText(support:embeddings:)``).
///
/// One `Mutex` around plain integers: a handful of increments per request, nothing allocated.
public final class ServingMetrics: Sendable {
    /// What an HTTP request was for (`endpoint` label).
    public enum Endpoint: String, Sendable, CaseIterable {
        case score, events, healthz, metrics, other
    }

    /// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implicit.
    public static let latencyBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]

    struct Counters {
        /// `[endpoint][status class 2xx/4xx/5xx]`.
        var requests = [Int](repeating: 0, count: Endpoint.allCases.count * 3)
        /// Per endpoint: cumulative-free bucket counts (last = +Inf), sum of seconds.
        var latency = [Int](repeating: 0, count: Endpoint.allCases.count * (ServingMetrics.latencyBuckets.count + 1))
        var latencySum = [Double](repeating: 0, count: Endpoint.allCases.count)
        var scored = 0
        var finetuned = 0
        var fallbacks = [Int](repeating: 0, count: ScoreResult.Fallback.allCases.count)
        var eventsAppended = 0
        var batches = 0
        var batchedRequests = 0
        var sweeps = 0
    }

    let counters = Mutex(Counters())

    public init() {}

    /// Counts one HTTP request and its latency.
    public func recordRequest(_ endpoint: Endpoint, status: Int, seconds: Double) {
        let e = Self.index(endpoint)
        let statusClass = status >= 500 ? 2 : status >= 400 ? 1 : 0
        var bucket = Self.latencyBuckets.count
        for (i, bound) in Self.latencyBuckets.enumerated() where seconds <= bound {
            bucket = i
            break
        }
        counters.withLock { c in
            c.requests[e * 3 + statusClass] += 1
            c.latency[e * (Self.latencyBuckets.count + 1) + bucket] += 1
            c.latencySum[e] += seconds
        }
    }

    /// Counts one scored request and, when the base towers served it, why.
    public func recordScore(finetuned: Bool, fallback: ScoreResult.Fallback?) {
        counters.withLock { c in
            c.scored += 1
            if finetuned { c.finetuned += 1 }
            if let fallback { c.fallbacks[Self.index(fallback)] += 1 }
        }
    }

    /// Counts support rows appended from feedback events.
    public func recordEvents(_ rows: Int) {
        counters.withLock { $0.eventsAppended += rows }
    }

    /// Counts one auto-batch of `requests` merged requests.
    public func recordBatch(requests: Int) {
        counters.withLock { c in
            c.batches += 1
            c.batchedRequests += requests
        }
    }

    /// Counts one periodic eviction sweep.
    public func recordSweep() {
        counters.withLock { $0.sweeps += 1 }
    }

    /// Fallbacks so far of one kind (tests, benchmarks).
    public func fallbacks(_ kind: ScoreResult.Fallback) -> Int {
        counters.withLock { $0.fallbacks[Self.index(kind)] }
    }

    /// Requests scored so far, and how many of them were fine-tuned.
    public var scored: (total: Int, finetuned: Int) {
        counters.withLock { ($0.scored, $0.finetuned) }
    }

    /// Auto-batches so far and the requests in them.
    public var batches: (batches: Int, requests: Int) {
        counters.withLock { ($0.batches, $0.batchedRequests) }
    }

    static func index(_ e: Endpoint) -> Int { Endpoint.allCases.firstIndex(of: e)! }
    static func index(_ f: ScoreResult.Fallback) -> Int { ScoreResult.Fallback.allCases.firstIndex(of: f)! }
}
