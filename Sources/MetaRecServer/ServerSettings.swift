import Foundation
import Configuration
import Retrieval
import ParamServer
import Recommendation

/// The deployment settings of `metarec serve`, read through swift-configuration: the command
/// puts the flags it was given in an in-memory provider ahead of the environment, so a flag wins
/// over its variable and a variable over the default.
///
/// | key | environment variable | flag | default |
/// | --- | --- | --- | --- |
/// | `metarec.model` | `METAREC_MODEL` | `--model` | (this or `metarec.models` is required) |
/// | `metarec.models` | `METAREC_MODELS` | `--models` | none: a model repository instead of `--model` (``RepositorySettings``) |
/// | `metarec.model.name` | `METAREC_MODEL_NAME` | `--model-name` | the only model in `--models` |
/// | `metarec.split` | `METAREC_SPLIT` | `--split` | all traffic to label `stable` if it exists, else the newest version |
/// | `metarec.models.poll.seconds` | `METAREC_MODELS_POLL_SECONDS` | `--models-poll-seconds` | `5` (`0`: only on SIGHUP) |
/// | `metarec.host` | `METAREC_HOST` | `--host` | `127.0.0.1` |
/// | `metarec.port` | `METAREC_PORT` | `--port` | `8080` |
/// | `metarec.workers` | `METAREC_WORKERS` | `--workers` | `1` |
/// | `metarec.sweep.seconds` | `METAREC_SWEEP_SECONDS` | `--sweep-seconds` | `60` |
/// | `metarec.retrieval` | `METAREC_RETRIEVAL` | `--retrieval` | none (`POST /v1/recommend` answers 404) |
/// | `metarec.retrieval.item.feature` | `METAREC_RETRIEVAL_ITEM_FEATURE` | `--retrieval-item-feature` | `item_id` |
/// | `metarec.retrieval.adapt.steps` | `METAREC_RETRIEVAL_ADAPT_STEPS` | `--retrieval-adapt-steps` | the retrieval model's own adaptation, else `0` (off); at most 100: `u` adapted per request on the history's last items (``UserAdaptation``) |
/// | `metarec.retrieval.adapt.rate` | `METAREC_RETRIEVAL_ADAPT_RATE` | `--retrieval-adapt-rate` | the model's own, else `0.03` (in (0, 10]) |
/// | `metarec.retrieval.adapt.support` | `METAREC_RETRIEVAL_ADAPT_SUPPORT` | `--retrieval-adapt-support` | the model's own, else `5` (at most 1 000) |
/// | `metarec.catalogue` | `METAREC_CATALOGUE` | `--catalogue` | none (candidates carry only the item key) |
/// | `metarec.state` | `METAREC_STATE` | `--state` | none (no snapshot, no event log) |
/// | `metarec.event.fsync` | `METAREC_EVENT_FSYNC` | `--event-fsync` | `every_second` (`always`, `off`) |
/// | `metarec.support` | `METAREC_SUPPORT` | `--support` | `memory` (in-process; or `redis://HOST[:PORT][/DB]`) |
/// | `metarec.support.seed` | `METAREC_SUPPORT_SEED` | `--support-seed` | `false` (copy the model directory's rows into Redis once per version) |
/// | `metarec.support.timeout.ms` | `METAREC_SUPPORT_TIMEOUT_MS` | `--support-timeout-ms` | `50`, at most 5 000 (each socket read or write of a Redis call) |
/// | `metarec.support.precision` | `METAREC_SUPPORT_PRECISION` | `--support-precision` | the model's `serving.support_precision` (`f32` or `bf16`: how support rows' meta-layer inputs are kept, in-process and in Redis) |
/// | `metarec.snapshot.seconds` | `METAREC_SNAPSHOT_SECONDS` | `--snapshot-seconds` | `300` |
/// | `metarec.header.timeout.seconds` | `METAREC_HEADER_TIMEOUT_SECONDS` | `--header-timeout-seconds` | `10` |
/// | `metarec.body.timeout.seconds` | `METAREC_BODY_TIMEOUT_SECONDS` | `--body-timeout-seconds` | `30` |
/// | `metarec.idle.timeout.seconds` | `METAREC_IDLE_TIMEOUT_SECONDS` | `--idle-timeout-seconds` | `60` |
/// | `metarec.max.connections` | `METAREC_MAX_CONNECTIONS` | `--max-connections` | `1024` |
/// | `metarec.shutdown.grace.seconds` | `METAREC_SHUTDOWN_GRACE_SECONDS` | `--shutdown-grace-seconds` | `10` |
/// | `metarec.token.file` | `METAREC_TOKEN_FILE` | `--token-file` | none (one token per line) |
/// | `metarec.tokens` | `METAREC_TOKENS` | (environment only) | none (comma-separated) |
/// | `metarec.insecure.no.auth` | `METAREC_INSECURE_NO_AUTH` | `--insecure-no-auth` | `false` |
/// | `log.level` | `LOG_LEVEL` | `--log-level` | `info` (read by the command) |
/// | `log.format` | `LOG_FORMAT` | `--log-format` | `text` (read by the command) |
public struct ServerSettings: Sendable, Equatable {
    /// The model directory to serve (only read); `nil` when ``repository`` is set.
    public var model: String?
    /// The model repository to serve (`--models`, only read); `nil` when ``model`` is set.
    public var repository: RepositorySettings?
    /// Host, port, workers, sweep interval, state directory.
    public var configuration: ServerConfiguration
    /// The retrieval model directory behind `POST /v1/recommend` (only read); `nil`: none.
    public var retrieval: String?
    /// The ranker feature a recalled item's key is sent under.
    public var retrievalItemFeature = "item_id"
    /// A CSV of item features for `/v1/recommend`'s candidates (``ItemCatalogue``); `nil`: none.
    public var catalogue: String?
    /// Per-request adaptation of the recall's user embedding as set (any of the three keys given;
    /// the others from ``adaptation(overriding:)``); `nil`: the retrieval model's own.
    public var retrievalAdaptation: AdaptationSettings?

    /// The `metarec.retrieval.adapt.*` values given (`nil`: not given).
    public struct AdaptationSettings: Sendable, Equatable {
        public var steps: Int?, rate: Float?, support: Int?
    }
    /// How support rows' meta-layer inputs are kept (``ParamServer/SupportPrecision``); `nil`:
    /// the model's `serving.support_precision`. The command loads the model with it.
    public var supportPrecision: SupportPrecision?

    /// A value that is not what its key needs, named by its environment variable (its flag is the same
    /// in lower case with dashes).
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var variable: String
        public var reason: String
        public var description: String { "\(variable): \(reason)" }
    }

    /// Reads and validates every setting.
    ///
    /// - Throws: ``Invalid`` naming the first missing or malformed setting (a port outside
    ///   0...65535, workers outside 1...64, a sweep or snapshot period that is not a positive
    ///   number, an fsync policy other than `always`, `every_second`, `off`, a timeout or
    ///   connection cap out of range, an unreadable token file), or a non-loopback host without
    ///   tokens or `--insecure-no-auth` (``ServerSettings/exposure(host:tokens:reader:)``).
    public init(reader: ConfigReader) throws(Invalid) {
        let model = Self.text(reader, "metarec.model")
        repository = try Self.repository(reader)
        switch (model, repository) {
        case (nil, nil):
            throw Invalid(variable: "METAREC_MODEL", reason: "a model directory (--model, METAREC_MODEL) or a model repository (--models, METAREC_MODELS) is required")
        case let (model?, repository?):
            throw Invalid(variable: "METAREC_MODELS", reason: "--model \(model) and --models \(repository.root): give exactly one")
        default: break
        }
        let port = try Self.number(reader, "metarec.port", "METAREC_PORT", default: 8080, in: 0...65_535, Int.init)
        let workers = try Self.number(reader, "metarec.workers", "METAREC_WORKERS", default: 1, in: 1...64, Int.init)
        let sweep = try Self.number(reader, "metarec.sweep.seconds", "METAREC_SWEEP_SECONDS", default: 60,
                                    in: 1e-3...1e9, Double.init)
        self.model = model
        configuration = ServerConfiguration(
            host: Self.text(reader, "metarec.host") ?? "127.0.0.1", port: port, workers: workers,
            sweepInterval: .milliseconds(Int64((sweep * 1000).rounded())), stateDirectory: Self.text(reader, "metarec.state"))
        configuration.limits = try Self.limits(reader)
        configuration.tokens = try Self.tokens(reader)
        try Self.exposure(host: configuration.host, tokens: configuration.tokens, reader: reader)
        try readEventLogSettings(reader)
        try readSupportSettings(reader)
        repository?.supportPrecision = supportPrecision
        retrieval = Self.text(reader, "metarec.retrieval")
        retrievalItemFeature = Self.text(reader, "metarec.retrieval.item.feature") ?? retrievalItemFeature
        catalogue = Self.text(reader, "metarec.catalogue")
        try readRetrievalAdaptation(reader)
        try checkRepositoryCombinations()
    }

    /// `metarec.retrieval.adapt.*` into ``retrievalAdaptation`` (left `nil` when none is given).
    mutating func readRetrievalAdaptation(_ reader: ConfigReader) throws(Invalid) {
        let steps = try Self.optionalNumber(reader, "metarec.retrieval.adapt.steps", "METAREC_RETRIEVAL_ADAPT_STEPS",
                                            in: UserAdaptation.stepRange, Int.init)
        let rate = try Self.optionalNumber(reader, "metarec.retrieval.adapt.rate", "METAREC_RETRIEVAL_ADAPT_RATE",
                                           in: UserAdaptation.rateRange, Float.init)
        let support = try Self.optionalNumber(reader, "metarec.retrieval.adapt.support", "METAREC_RETRIEVAL_ADAPT_SUPPORT",
                                              in: UserAdaptation.supportRange, Int.init)
        if steps != nil || rate != nil || support != nil {
            retrievalAdaptation = AdaptationSettings(steps: steps, rate: rate, support: support)
        }
    }

    /// The recall's adaptation: the settings given, the rest from `own` (the retrieval model's),
    /// else 0 steps, rate 0.03, the last 5 items.
    /// - Throws: ``Invalid`` naming `METAREC_RETRIEVAL_ADAPT_STEPS` should the combination be refused
    ///   (each value is checked on its own, so it is not expected).
    public func adaptation(overriding own: UserAdaptation?) throws(Invalid) -> UserAdaptation {
        let set = retrievalAdaptation
        do {
            return try UserAdaptation(steps: set?.steps ?? own?.steps ?? 0, rate: set?.rate ?? own?.rate ?? 0.03,
                                      supportSize: set?.support ?? own?.supportSize ?? 5)
        } catch {
            throw Invalid(variable: "METAREC_RETRIEVAL_ADAPT_STEPS", reason: "\(error)")
        }
    }

    /// `metarec.event.fsync` and `metarec.snapshot.seconds` into ``configuration``.
    mutating func readEventLogSettings(_ reader: ConfigReader) throws(Invalid) {
        if let text = Self.text(reader, "metarec.event.fsync") {
            guard let policy = EventFsync(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                throw Invalid(variable: "METAREC_EVENT_FSYNC",
                              reason: "\"\(text)\" is not one of \(EventFsync.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.eventFsync = policy
        }
        let snapshot = try Self.number(reader, "metarec.snapshot.seconds", "METAREC_SNAPSHOT_SECONDS", default: 300,
                                       in: 1e-3...1e9, Double.init)
        configuration.snapshotInterval = .milliseconds(Int64((snapshot * 1000).rounded()))
    }

    /// `metarec.support.precision` into ``supportPrecision``, `metarec.support` and
    /// `metarec.support.timeout.ms` into ``configuration``; a shared store
    /// with a state directory is refused (the directory's snapshot and event log are the
    /// in-process store's; Redis keeps its own rows, durable by its own persistence settings).
    mutating func readSupportSettings(_ reader: ConfigReader) throws(Invalid) {
        if let text = Self.text(reader, "metarec.support.precision") {
            guard let precision = SupportPrecision(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw Invalid(variable: "METAREC_SUPPORT_PRECISION",
                              reason: "\"\(text)\" is not one of \(SupportPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            supportPrecision = precision
        }
        let timeout = try Self.number(reader, "metarec.support.timeout.ms", "METAREC_SUPPORT_TIMEOUT_MS", default: 50,
                                      in: 0.1...5_000, Double.init)
        switch Self.text(reader, "metarec.support.seed")?.lowercased() {
        case nil, "false", "0", "no": configuration.seedSharedSupport = false
        case "true", "1", "yes": configuration.seedSharedSupport = true
        case let other?: throw Invalid(variable: "METAREC_SUPPORT_SEED", reason: "\"\(other)\" is not true or false")
        }
        guard let text = Self.text(reader, "metarec.support") else {
            if configuration.seedSharedSupport {
                throw Invalid(variable: "METAREC_SUPPORT_SEED", reason: "--support-seed copies rows into Redis: it needs --support redis://…")
            }
            return
        }
        configuration.support = try SupportBackend.parse(text, timeoutSeconds: timeout / 1000)
        if configuration.support == .inProcess && configuration.seedSharedSupport {
            throw Invalid(variable: "METAREC_SUPPORT_SEED", reason: "--support-seed copies rows into Redis: it needs --support redis://…, got \(text)")
        }
        if configuration.support != .inProcess, let state = configuration.stateDirectory {
            throw Invalid(variable: "METAREC_SUPPORT",
                          reason: "--support \(text) with --state \(state): the state directory holds the in-process store's snapshot and event log; with Redis the rows live in Redis (drop --state, or use Redis persistence)")
        }
    }

    /// A non-empty string at `key`, or `nil`.
    static func text(_ reader: ConfigReader, _ key: ConfigKey) -> String? {
        guard let value = reader.string(forKey: key), !value.isEmpty else { return nil }
        return value
    }

    /// The number at `key` parsed by `parse` and checked against `range`, or `fallback` when unset.
    static func number<T: Comparable>(_ reader: ConfigReader, _ key: ConfigKey, _ variable: String, default fallback: T,
                                      in range: ClosedRange<T>, _ parse: (String) -> T?) throws(Invalid) -> T {
        guard let text = text(reader, key) else { return fallback }
        guard let value = parse(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw Invalid(variable: variable, reason: "\"\(text)\" is not a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// ``number(_:_:_:default:in:_:)`` of a key that may be absent (`nil`).
    static func optionalNumber<T: Comparable>(_ reader: ConfigReader, _ key: ConfigKey, _ variable: String,
                                              in range: ClosedRange<T>, _ parse: (String) -> T?) throws(Invalid) -> T? {
        guard text(reader, key) != nil else { return nil }
        return try number(reader, key, variable, default: range.lowerBound, in: range, parse)
    }
}
