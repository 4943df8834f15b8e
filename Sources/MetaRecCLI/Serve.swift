#if HTTPServer  // the package trait (on by default): `metarec serve` needs MetaRecServer (Hummingbird)
import ArgumentParser
import Configuration
import Foundation
import Logging
import MetaRecServer
import ModelDescription
import ModelMath
import Retrieval
import Serving

/// `metarec serve`: the HTTP scoring server (`docs/DESIGN.md` §HTTP, the `MetaRecServer` library) on one
/// model directory, until SIGTERM/SIGINT. Settings come from the flags, then the environment
/// (``MetaRecServer/ServerSettings`` lists the variables), then the defaults.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve per-user fine-tuned scores over HTTP: POST /v1/score, POST /v1/events, POST /v1/recommend, GET /healthz, GET /metrics, GET /openapi.yaml.",
        discussion: """
            Every setting can also come from the environment; a flag wins over its variable: \
            METAREC_MODEL, METAREC_HOST, METAREC_PORT, METAREC_WORKERS, METAREC_SWEEP_SECONDS, METAREC_STATE, \
            METAREC_EVENT_FSYNC, METAREC_SNAPSHOT_SECONDS, METAREC_HEADER_TIMEOUT_SECONDS, METAREC_BODY_TIMEOUT_SECONDS, \
            METAREC_IDLE_TIMEOUT_SECONDS, METAREC_MAX_CONNECTIONS, METAREC_SHUTDOWN_GRACE_SECONDS, METAREC_TOKEN_FILE, \
            METAREC_TOKENS, METAREC_INSECURE_NO_AUTH, METAREC_RETRIEVAL, METAREC_RETRIEVAL_ITEM_FEATURE, METAREC_CATALOGUE, METAREC_SUPPORT, METAREC_SUPPORT_SEED, METAREC_SUPPORT_TIMEOUT_MS, METAREC_SUPPORT_PRECISION, LOG_LEVEL, LOG_FORMAT. The model directory is only read; the \
            support-store snapshot and the event log live in --state (an event is acknowledged once it is in the log; \
            replayed after the snapshot at start; without --state events are not durable). \
            A non-loopback --host needs bearer tokens (or --insecure-no-auth).
            """)

    @Option(help: "Model directory (from metarec train); only read. [METAREC_MODEL]")
    var model: String?

    @Option(help: "Address to bind (default 127.0.0.1). [METAREC_HOST]")
    var host: String?

    @Option(help: "TCP port, 0 picks a free one (default 8080). [METAREC_PORT]")
    var port: String?

    @Option(help: "Auto-batcher worker threads, 1...64 (default 1). [METAREC_WORKERS]")
    var workers: String?

    @Option(help: "Seconds between eviction sweeps of the support store and embedding table (default 60). [METAREC_SWEEP_SECONDS]")
    var sweepSeconds: String?

    @Option(help: "State directory: the support-store snapshot and the event log, replayed at start; without it events are not durable. [METAREC_STATE]")
    var state: String?

    @Option(help: "When the event log in --state reaches the disk: always (fsync before each reply, shared by concurrent requests), every_second (default), off. [METAREC_EVENT_FSYNC]")
    var eventFsync: String?

    @Option(help: "Seconds between the snapshots that truncate the event log (default 300). [METAREC_SNAPSHOT_SECONDS]")
    var snapshotSeconds: String?

    @Option(help: "Seconds a client has to send a request's head (default 10). [METAREC_HEADER_TIMEOUT_SECONDS]")
    var headerTimeoutSeconds: String?

    @Option(help: "Seconds a client has to send a request's body once its head is read (default 30). [METAREC_BODY_TIMEOUT_SECONDS]")
    var bodyTimeoutSeconds: String?

    @Option(help: "Seconds a keep-alive connection may sit idle between requests (default 60). [METAREC_IDLE_TIMEOUT_SECONDS]")
    var idleTimeoutSeconds: String?

    @Option(help: "Open connections at most; beyond, new ones get 503 and are closed (default 1024). [METAREC_MAX_CONNECTIONS]")
    var maxConnections: String?

    @Option(help: "Seconds open requests get at shutdown before their connections are cut (default 10). [METAREC_SHUTDOWN_GRACE_SECONDS]")
    var shutdownGraceSeconds: String?

    @Option(help: "File of bearer tokens, one per line, required on every route but /healthz (also METAREC_TOKENS, comma-separated). [METAREC_TOKEN_FILE]")
    var tokenFile: String?

    @Option(help: "Retrieval model directory (from metarec retrieval train) for POST /v1/recommend; only read. [METAREC_RETRIEVAL]")
    var retrieval: String?

    @Option(help: "The ranker feature that carries a recalled item's key (default item_id). [METAREC_RETRIEVAL_ITEM_FEATURE]")
    var retrievalItemFeature: String?

    @Option(help: "CSV of item features (header: the item feature, then ranker features) sent with /v1/recommend's candidates. [METAREC_CATALOGUE]")
    var catalogue: String?

    @Option(help: "Where users' support rows live: memory (default, this process) or redis://HOST[:PORT][/DB], shared by every server of a fleet. [METAREC_SUPPORT]")
    var support: String?

    @Flag(help: "With --support redis://: copy the model directory's support rows into Redis at start, once per model version for the whole fleet. [METAREC_SUPPORT_SEED]")
    var supportSeed = false

    @Option(help: "Milliseconds each Redis call of --support may take before the request falls back to the base towers (default 50). [METAREC_SUPPORT_TIMEOUT_MS]")
    var supportTimeoutMs: String?

    @Option(help: "How support rows' meta-layer inputs are kept, in-process and in Redis: f32, or bf16 (half the bytes a row, rounded to 8 significant bits) (default: the model's serving.support_precision). [METAREC_SUPPORT_PRECISION]")
    var supportPrecision: String?

    @Flag(help: "Serve a non-loopback --host without bearer tokens (refused otherwise). [METAREC_INSECURE_NO_AUTH]")
    var insecureNoAuth = false

    @OptionGroup var logOptions: LogOptions

    /// The flags given, as the first provider: they win over the environment.
    var flagProvider: InMemoryProvider {
        let flags: [(AbsoluteConfigKey, String?)] = [
            ("metarec.model", model), ("metarec.host", host), ("metarec.port", port), ("metarec.workers", workers),
            ("metarec.sweep.seconds", sweepSeconds), ("metarec.state", state),
            ("metarec.event.fsync", eventFsync), ("metarec.snapshot.seconds", snapshotSeconds),
            ("metarec.header.timeout.seconds", headerTimeoutSeconds), ("metarec.body.timeout.seconds", bodyTimeoutSeconds),
            ("metarec.idle.timeout.seconds", idleTimeoutSeconds), ("metarec.max.connections", maxConnections),
            ("metarec.shutdown.grace.seconds", shutdownGraceSeconds), ("metarec.token.file", tokenFile),
            ("metarec.insecure.no.auth", insecureNoAuth ? "true" : nil),
            ("metarec.retrieval", retrieval), ("metarec.retrieval.item.feature", retrievalItemFeature),
            ("metarec.catalogue", catalogue), ("metarec.support", support), ("metarec.support.timeout.ms", supportTimeoutMs),
            ("metarec.support.seed", supportSeed ? "true" : nil), ("metarec.support.precision", supportPrecision),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (key, value?) in flags { values[key] = ConfigValue(.string(value), isSecret: false) }
        return InMemoryProvider(name: "flags", values: values)
    }

    func run() async throws {
        let reader = ConfigReader(providers: [flagProvider, EnvironmentVariablesProvider()])
        let logger = try logOptions.bootstrap(environment: { reader.string(forKey: ConfigKey($0)) })
        let settings: ServerSettings
        do {
            settings = try ServerSettings(reader: reader)
        } catch {
            throw LogOptions.failure(error.description)
        }
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: settings.model, supportPrecision: settings.supportPrecision)
        } catch {
            throw LogOptions.failure("cannot load \(settings.model): \(error)")
        }
        let recommender = try Self.recommender(settings, ranker: loaded.config)
        let server = ScoringServer(model: ServingModel(loaded), configuration: settings.configuration, logger: logger,
                                   recommender: recommender)
        server.bootstrapProcessMetrics()
        do {
            try server.restoreState()
        } catch {
            throw LogOptions.failure("cannot restore the state in \(settings.configuration.stateDirectory ?? ""): \(error)")
        }
        // Until SIGTERM/SIGINT: the server stops accepting and drains, the batcher finishes, the support store is snapshotted.
        try await makeServiceGroup(server, signals: [.sigterm, .sigint]).run()
    }

    /// The retrieval model of `--retrieval` with its index, checked against the ranker; `nil` without one.
    static func recommender(_ settings: ServerSettings, ranker: ModelConfig) throws -> Recommender? {
        guard let path = settings.retrieval else {
            if let catalogue = settings.catalogue { throw LogOptions.failure("--catalogue \(catalogue) needs --retrieval") }
            return nil
        }
        do {
            let catalogue = try settings.catalogue.map {
                try ItemCatalogue(path: $0, itemFeature: settings.retrievalItemFeature, ranker: ranker)
            }
            return try Recommender(model: RetrievalModelFiles.read(path), itemFeature: settings.retrievalItemFeature, ranker: ranker,
                                   catalogue: catalogue)
        } catch {
            throw LogOptions.failure("cannot load the retrieval model \(path): \(error)")
        }
    }
}
#endif
