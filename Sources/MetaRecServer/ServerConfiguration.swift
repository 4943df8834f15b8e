import Logging
import Serving

/// Where the HTTP scoring server listens, the threads and timer it owns, where it keeps its
/// state, how it bounds its connections, which tokens it requires and which event times it
/// accepts; the model's `serving:` config holds the rest (batching, request limits, adaptation).
/// ``ServerSettings`` reads it from flags and environment variables.
public struct ServerConfiguration: Sendable, Equatable {
    /// Address to bind (loopback by default).
    public var host: String
    /// TCP port; 0 picks a free one (passed to `onServerRunning`).
    public var port: Int
    /// Auto-batcher worker threads.
    public var workers: Int
    /// Time between eviction sweeps of the support store and the embedding table.
    public var sweepInterval: Duration
    /// The `Server` response header.
    public var serverName: String
    /// The server's own state (`--state`): the support-store snapshot, written at shutdown and
    /// restored at start. `nil`: no snapshot (said in the log). Never the model directory.
    public var stateDirectory: String?
    /// When the event log in the state directory reaches the disk (`--event-fsync`); no log
    /// without a state directory.
    public var eventFsync: EventFsync = .everySecond
    /// Time between the snapshots that truncate the event log (`--snapshot-seconds`); one is
    /// taken only when events were logged since the last.
    public var snapshotInterval: Duration = .seconds(300)
    /// Read timeouts, the connection cap and the shutdown grace.
    public var limits: ConnectionLimits
    /// The bearer tokens every route but `/healthz` requires; ``BearerTokens/none``: open.
    public var tokens: BearerTokens
    /// The event times `POST /v1/events` accepts.
    public var eventTimes: EventTimeBounds
    /// Where users' support rows live (`--support`): in this process (default) or in Redis,
    /// shared by a fleet. With Redis there is no snapshot or event log of support rows.
    public var support: SupportBackend = .inProcess
    /// With a shared store (`--support-seed`): copy the model directory's support rows into it at
    /// start, once per model version across the fleet (``ScoringServer/restoreState()``).
    public var seedSharedSupport = false

    /// - Precondition: `port` in 0...65535, `workers` ≥ 1, `sweepInterval` > 0 (`metarec serve`
    ///   validates its options before it gets here).
    public init(host: String = "127.0.0.1", port: Int = 8080, workers: Int = 1, sweepInterval: Duration = .seconds(60),
                serverName: String = "metarec", stateDirectory: String? = nil, limits: ConnectionLimits = ConnectionLimits(),
                tokens: BearerTokens = .none, eventTimes: EventTimeBounds = .standard) {
        precondition((0...65_535).contains(port), "ServerConfiguration: port \(port) is not in 0...65535")
        precondition(workers >= 1, "ServerConfiguration: workers \(workers) must be >= 1")
        precondition(sweepInterval > .zero, "ServerConfiguration: sweep interval \(sweepInterval) must be positive")
        self.host = host
        self.port = port
        self.workers = workers
        self.sweepInterval = sweepInterval
        self.serverName = serverName
        self.stateDirectory = stateDirectory
        self.limits = limits
        self.tokens = tokens
        self.eventTimes = eventTimes
    }

    /// The support-store snapshot in a state directory.
    public static func supportSnapshotPath(in stateDirectory: String) -> String {
        stateDirectory + "/support.snapshot"
    }
}
