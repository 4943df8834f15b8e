import CoreMetrics
import Serving
import Synchronization

/// One loaded model version: its predictor (with its own support store, keyed by its model
/// version), its auto-batcher and its per-version metrics. `metarec serve --model DIR` has one,
/// with no repository version; `--models DIR` one per served repository version.
///
/// A request holds the version from the moment the routing table hands it out
/// (``ServedModels/acquire(_:)``) until its reply is written (``release()``); a version taken out
/// of the table is unloaded (its batcher drained and stopped) only once ``inFlight`` reaches 0,
/// so a request that started on it finishes on it. A version taken out of the table is
/// ``retired`` for good: ``ServedModels/install(name:plan:versions:over:)`` never puts it back
/// (its batcher is, or is about to be, shut down); a later plan naming its number loads it anew.
public final class ServedVersion: Sendable {
    /// The repository's version number; `nil` for `--model DIR`.
    public let version: Int?
    public let predictor: Predictor
    public let batcher: AutoBatcher
    /// Requests holding this version.
    let inFlight = Atomic<Int>(0)
    /// Set (under the table's lock) when an install takes the version out of the routing table.
    let retired = Atomic<Bool>(false)
    /// Requests and latency of this version (`nil` for `--model DIR`).
    let metrics: VersionMetrics?

    init(version: Int?, predictor: Predictor, batcher: AutoBatcher, metrics: VersionMetrics?) {
        self.version = version
        self.predictor = predictor
        self.batcher = batcher
        self.metrics = metrics
    }

    /// Ends one request's hold (see ``ServedModels/acquire(_:)``).
    func release() {
        inFlight.subtract(1, ordering: .releasing)
    }
}

/// How a request picked its version: the `route` label of the per-version metrics.
enum VersionRoute: String, Sendable, CaseIterable {
    /// Plain `/v1/score` (and `/v1/recommend`): the A/B split by hash(user).
    case split
    /// `/v1/models/{name}/versions/{n}/score`.
    case version
    /// `/v1/models/{name}/labels/{label}/score`.
    case label
}

/// The per-version metrics of a model repository (server README, Metrics), made once per loaded
/// version on the server's factory:
/// `metarec_model_requests_total{model,version,route,status}` (route: `split`, `version`,
/// `label`; status class `2xx`/`4xx`/`5xx`) and the latency histogram
/// `metarec_model_request_duration_seconds{model,version}` (buckets of
/// ``ServingMetrics/latencyBuckets``). A version's series stay after it is unloaded (counters
/// are cumulative).
struct VersionMetrics: Sendable {
    static let latencyLabel = "metarec_model_request_duration_seconds"

    /// `[route][status class]`.
    let requests: [[Counter]]
    let latency: Timer

    init(model: String, version: Int, factory: any MetricsFactory) {
        requests = VersionRoute.allCases.map { route in
            ["2xx", "4xx", "5xx"].map { status in
                Counter(label: "metarec_model_requests_total",
                        dimensions: [("model", model), ("version", String(version)), ("route", route.rawValue), ("status", status)],
                        factory: factory)
            }
        }
        latency = Timer(label: Self.latencyLabel, dimensions: [("model", model), ("version", String(version))],
                        preferredDisplayUnit: .seconds, factory: factory)
    }

    func record(_ route: VersionRoute, status: Int, nanoseconds: Int64) {
        let r = VersionRoute.allCases.firstIndex(of: route)!
        requests[r][status >= 500 ? 2 : status >= 400 ? 1 : 0].increment()
        latency.recordNanoseconds(nanoseconds)
    }
}
