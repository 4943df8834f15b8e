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
/// model directory (`--model`) or a model repository (`--models`, re-read on SIGHUP and every poll), until SIGTERM/SIGINT. Settings come from the flags, then the environment
/// (``MetaRecServer/ServerSettings`` lists the variables), then the defaults.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve per-user fine-tuned scores over HTTP: POST /v1/score, POST /v1/models/{name}/versions/{n}/score, POST /v1/models/{name}/labels/{label}/score, POST /v1/events, POST /v1/recommend, GET /healthz, GET /metrics, GET /openapi.yaml.",
        discussion: """
            Every setting can also come from the environment; a flag wins over its variable: \
            METAREC_MODEL, METAREC_MODELS, METAREC_MODEL_NAME, METAREC_SPLIT, METAREC_MODELS_POLL_SECONDS, METAREC_HOST, METAREC_PORT, METAREC_WORKERS, METAREC_SWEEP_SECONDS, METAREC_STATE, \
            METAREC_EVENT_FSYNC, METAREC_SNAPSHOT_SECONDS, METAREC_HEADER_TIMEOUT_SECONDS, METAREC_BODY_TIMEOUT_SECONDS, \
            METAREC_IDLE_TIMEOUT_SECONDS, METAREC_MAX_CONNECTIONS, METAREC_SHUTDOWN_GRACE_SECONDS, METAREC_TOKEN_FILE, \
            METAREC_TOKENS, METAREC_INSECURE_NO_AUTH, METAREC_RETRIEVAL, METAREC_RETRIEVAL_ITEM_FEATURE, METAREC_CATALOGUE, METAREC_SUPPORT, METAREC_SUPPORT_SEED, METAREC_SUPPORT_TIMEOUT_MS, METAREC_SUPPORT_PRECISION, LOG_LEVEL, LOG_FORMAT. The model directory is only read; the \
            support-store snapshot and the event log live in --state (an event is acknowledged once it is in the log; \
            replayed after the snapshot at start; without --state events are not durable). \
            A non-loopback --host needs bearer tokens (or --insecure-no-auth). \
            With --models DIR (DIR/<name>/<version>/ model directories, optional DIR/<name>/LABELS of "<label> <version>" \
            lines) /v1/score follows the A/B split by hash(user) and each response carries the scoring "version". DIR is \
            re-read every --models-poll-seconds and on SIGHUP: a new version directory (copy it under a temporary name, \
            then rename it) or a LABELS change is loaded beside the running versions and swapped in without failing a \
            request; the old version is unloaded once drained; a version that fails to load is logged and the running \
            ones keep serving (the poll retries it). Replace LABELS atomically too (a temporary file, then a rename). \
            --models does not combine with --state or --retrieval.
            """)

    @Option(help: "Model directory (from metarec train); only read. Exactly one of --model and --models. [METAREC_MODEL]")
    var model: String?

    @Option(help: "Model repository: DIR/<name>/<version>/ model directories and an optional DIR/<name>/LABELS (\"stable 3\" lines); only read. [METAREC_MODELS]")
    var models: String?

    @Option(help: "With --models: the served model name (default: the only one in DIR; several are an error). [METAREC_MODEL_NAME]")
    var modelName: String?

    @Option(help: "With --models: the A/B split of /v1/score, label-or-version=weight pairs, e.g. stable=90,canary=10 (default: all to label stable if it exists, else the newest version). [METAREC_SPLIT]")
    var split: String?

    @Option(help: "With --models: seconds between re-reads of DIR, 0 or at least 0.1 (default 5; 0 = only on SIGHUP). [METAREC_MODELS_POLL_SECONDS]")
    var modelsPollSeconds: String?

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

    @Option(help: "Gradient steps adapting /v1/recommend's user embedding to the user's last items before recall, 0...100 (default: the retrieval model's own, else 0: off). [METAREC_RETRIEVAL_ADAPT_STEPS]")
    var retrievalAdaptSteps: String?

    @Option(help: "Step size of that adaptation on the unit sphere, in (0, 10] (default: the model's own, else 0.03). [METAREC_RETRIEVAL_ADAPT_RATE]")
    var retrievalAdaptRate: String?

    @Option(help: "The user's most recent history items the recall adapts on, 1...1000 (default: the model's own, else 5). [METAREC_RETRIEVAL_ADAPT_SUPPORT]")
    var retrievalAdaptSupport: String?

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
            ("metarec.model", model), ("metarec.models", models), ("metarec.model.name", modelName), ("metarec.split", split),
            ("metarec.models.poll.seconds", modelsPollSeconds), ("metarec.host", host), ("metarec.port", port), ("metarec.workers", workers),
            ("metarec.sweep.seconds", sweepSeconds), ("metarec.state", state),
            ("metarec.event.fsync", eventFsync), ("metarec.snapshot.seconds", snapshotSeconds),
            ("metarec.header.timeout.seconds", headerTimeoutSeconds), ("metarec.body.timeout.seconds", bodyTimeoutSeconds),
            ("metarec.idle.timeout.seconds", idleTimeoutSeconds), ("metarec.max.connections", maxConnections),
            ("metarec.shutdown.grace.seconds", shutdownGraceSeconds), ("metarec.token.file", tokenFile),
            ("metarec.insecure.no.auth", insecureNoAuth ? "true" : nil),
            ("metarec.retrieval", retrieval), ("metarec.retrieval.item.feature", retrievalItemFeature),
            ("metarec.retrieval.adapt.steps", retrievalAdaptSteps), ("metarec.retrieval.adapt.rate", retrievalAdaptRate),
            ("metarec.retrieval.adapt.support", retrievalAdaptSupport),
            ("metarec.catalogue", catalogue), ("metarec.support", support), ("metarec.support.timeout.ms", supportTimeoutMs),
            ("metarec.support.seed", supportSeed ? "true" : nil), ("metarec.support.precision", supportPrecision),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (key, value?) in flags { values[key] = ConfigValue(.string(value), isSecret: false) }
        return InMemoryProvider(name: "flags", values: values)
    }

    func run() async throws {
        // SIGHUP asks a repository server to reload; its default action ends the process, and the
        // reloader traps it only once the versions are loaded and the services run. Ignored until
        // then (a start-up reads the directory anyway), so a deploy's SIGHUP cannot kill a start.
        if models != nil || ProcessInfo.processInfo.environment["METAREC_MODELS"] != nil { signal(SIGHUP, SIG_IGN) }
        let reader = ConfigReader(providers: [flagProvider, EnvironmentVariablesProvider()])
        let logger = try logOptions.bootstrap(environment: { reader.string(forKey: ConfigKey($0)) })
        let settings: ServerSettings
        do {
            settings = try ServerSettings(reader: reader)
        } catch {
            throw LogOptions.failure(error.description)
        }
        let server = try Self.server(settings, logger: logger)
        server.bootstrapProcessMetrics()
        do {
            try server.restoreState()
        } catch {
            throw LogOptions.failure("cannot restore the state in \(settings.configuration.stateDirectory ?? ""): \(error)")
        }
        // Until SIGTERM/SIGINT: the server stops accepting and drains, the batcher finishes, the support store is snapshotted.
        try await makeServiceGroup(server, signals: [.sigterm, .sigint]).run()
    }

    /// The server of `--model` (with its `--retrieval`) or of `--models`.
    static func server(_ settings: ServerSettings, logger: Logger) throws -> ScoringServer {
        if let repository = settings.repository {
            do {
                return try ScoringServer.repository(repository, configuration: settings.configuration, logger: logger)
            } catch {
                throw LogOptions.failure("cannot serve the model repository \(repository.root): \(error)")
            }
        }
        let path = settings.model ?? ""
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: path, supportPrecision: settings.supportPrecision)
        } catch {
            throw LogOptions.failure("cannot load \(path): \(error)")
        }
        let recommender = try Self.recommender(settings, ranker: loaded.config)
        return ScoringServer(model: ServingModel(loaded), configuration: settings.configuration, logger: logger,
                             recommender: recommender)
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
            let model = try RetrievalModelFiles.read(path)
            let adaptation = try settings.adaptation(overriding: model.manifest.config.adaptation)
            return try Recommender(model: model, itemFeature: settings.retrievalItemFeature, ranker: ranker, catalogue: catalogue,
                                   adaptation: adaptation)
        } catch {
            throw LogOptions.failure("cannot load the retrieval model \(path): \(error)")
        }
    }
}
#endif
