import ModelDescription
import ModelMath
import ParamServer
import PrivacyAccounting

/// `metarec federated`: DP-FedAvg over the towers (``FederatedAveraging``), clients = the task
/// keys (users) of a CSV log, from a centrally trained model directory to a new one.
///
/// What is federated and what is not: the bottom (embeddings, experts, gates) and the numeric
/// preprocessing come frozen from the `--init` model (a central pre-training, e.g. on public or
/// consenting data); only the towers are trained by the clients, so the reported (ε, δ) covers
/// the tower updates — the bottom's own training is outside it. With ``resetTowers`` the towers
/// start from the config's seeded initialisation, so everything they learn went through the
/// clipped, noised aggregate; without it they continue from the init model's towers.
///
/// The output is a model directory written and published like `train`'s (``ModelPublisher``):
/// config, preprocessing, embeddings, weights (init's bottom, federated towers), support sets
/// (each client's newest rows as meta-layer inputs — the on-device data fine-tuning adapts on),
/// manifest. Reproducible: the same inputs and seed give the same weights.
public struct FederatedJob {
    public var configPath: String
    public var trainingPath: String
    /// Optional log whose clients only measure (the per-round metric); default: the training clients.
    public var validationPath: String?
    public var initialModel: String
    public var outputDirectory: String
    /// `q`, `σ` and the cap are resolved by ``FederatedPlan`` when ``clientsPerRound`` or
    /// ``targetEpsilon`` is set.
    public var settings: FederatedSettings
    /// `m`: Poisson sampling with `q = m / N` (expected `m` clients per round).
    public var clientsPerRound: Int?
    /// Calibrates `σ` so that every round (central) or every upload up to the cap (local) stays
    /// within this ε at `δ`; overrides `settings.noiseMultiplier`.
    public var targetEpsilon: Double?
    public var resetTowers = false
    public var maxBadRows: Int?
    /// Rounds between progress lines with the metric (the last round always reports).
    public var reportEvery = 1
    /// Rounds between checkpoints (`MODEL/checkpoint/federated.json`).
    public var checkpointEvery = 25
    /// Continue from the checkpoint of an interrupted run with the same inputs and settings.
    public var resume = false

    public init(configPath: String, trainingPath: String, initialModel: String, outputDirectory: String,
                settings: FederatedSettings) {
        self.configPath = configPath
        self.trainingPath = trainingPath
        self.initialModel = initialModel
        self.outputDirectory = outputDirectory
        self.settings = settings
    }

    /// What a run did.
    public struct Report: Sendable {
        public var settings: FederatedSettings
        public var clients: Int
        public var roundsRun: Int
        public var epsilon: Double
        public var metrics: [TaskMetrics]
        public var manifest: ModelManifest
        public var parameters: ModelParameters
    }

    /// Runs the simulation and writes the model directory.
    @discardableResult
    public func run(progress: ProgressReporter) throws -> Report {
        var config = try ModelConfig.load(yamlFile: configPath)
        if config.model.supportEncoder != nil {  // the clients' meta-layer inputs are computed without the pools
            throw ConfigError.invalidValue(source: configPath, keyPath: "model.support_encoder", line: nil,
                                           reason: "metarec federated does not support the support encoder yet")
        }
        if config.model.starTowers != nil {  // the clients average the shared towers only
            throw ConfigError.invalidValue(source: configPath, keyPath: "model.star_towers", line: nil,
                                           reason: "metarec federated does not support STAR towers yet")
        }
        if config.model.partitionedNorm != nil {  // the clients compute f_k without the running statistics' update
            throw ConfigError.invalidValue(source: configPath, keyPath: "model.partitioned_norm", line: nil,
                                           reason: "metarec federated does not support partitioned normalisation yet")
        }
        if let maxBadRows { config.training.maxBadRows = maxBadRows; try config.validate(source: configPath) }
        let initModel = try LoadedModel(path: initialModel)
        guard config.networkSpec == initModel.config.networkSpec, config.inputLayout == initModel.config.inputLayout else {
            throw FederatedJobError.initMismatch(config: configPath, model: initialModel)
        }
        let options = CSVReadOptions(maxBadRows: config.training.maxBadRows)
        progress.line("reading \(trainingPath)")
        let profile = try DataProfile.fit(path: trainingPath, config: config, options: options)
        let data = try FederatedClients.read(path: trainingPath, model: initModel, options: options)
        let measured = try validationPath.map { try FederatedClients.read(path: $0, model: initModel, options: options).clients }
            ?? data.clients
        let settings = try FederatedPlan.resolve(settings, clients: data.clients.count, clientsPerRound: clientsPerRound,
                                                 targetEpsilon: targetEpsilon)
        progress.line(FederatedPlan.describe(settings, clients: data.clients.count, rows: data.rows))

        var federation = try FederatedAveraging(towers: initialTowers(config: config, model: initModel), clients: data.clients,
                                                settings: settings)
        let writerLock = try ModelWriterLock(root: outputDirectory)   // one writer per model root
        defer { writerLock.release() }
        let checkpoint = FederatedCheckpoint(modelDirectory: outputDirectory,
                                             key: "\(profile.fingerprint) \(initModel.manifest.modelVersion) \(resetTowers) \(settings)")
        try startOrResume(&federation, checkpoint: checkpoint, progress: progress)
        var metrics = FederatedClients.metrics(of: federation.towers, on: measured)
        progress.line("round \(federation.roundsRun): \(FederatedPlan.describe(metrics, names: config.labels.map(\.name)))")
        while let round = federation.runRound() {
            if round.round % checkpointEvery == 0, round.round < settings.rounds {
                try checkpoint.save(federation.snapshot())
                CrashPoint.reached("federated.checkpoint-written")
            }
            guard round.round % reportEvery == 0 || round.round == settings.rounds else { continue }
            metrics = FederatedClients.metrics(of: federation.towers, on: measured)
            progress.line(FederatedPlan.describe(round, settings: settings, metrics: metrics, names: config.labels.map(\.name)))
        }
        if federation.roundsRun < settings.rounds {
            progress.line("stopped after \(federation.roundsRun) rounds: another would exceed the ε budget \(settings.epsilonBudget ?? .infinity)")
        }
        metrics = FederatedClients.metrics(of: federation.towers, on: measured)
        var parameters = initModel.parameters
        parameters.towers = federation.towers.map(\.parameters)
        let manifest = try publish(parameters: parameters, config: config, model: initModel, profile: profile, support: data.support,
                                   metrics: metrics, rounds: federation.roundsRun)
        checkpoint.remove()
        progress.line("wrote \(outputDirectory) (model version \(manifest.modelVersion), \(federation.roundsRun) rounds, ε \(federation.epsilon) at δ \(settings.delta))")
        return Report(settings: settings, clients: data.clients.count, roundsRun: federation.roundsRun, epsilon: federation.epsilon,
                      metrics: metrics, manifest: manifest, parameters: parameters)
    }

    /// `--resume`: continues from the checkpoint (refused when it belongs to another run), or
    /// starts from scratch with a message when there is none. Without `--resume`, a checkpoint
    /// of an earlier unfinished run is removed.
    private func startOrResume(_ federation: inout FederatedAveraging, checkpoint: FederatedCheckpoint,
                               progress: ProgressReporter) throws {
        guard resume else {
            if checkpoint.exists { progress.line("removing the checkpoint of an earlier unfinished run: \(checkpoint.path)") }
            checkpoint.remove()
            return
        }
        guard checkpoint.exists else {
            progress.line("no checkpoint at \(checkpoint.path) to resume from: starting from scratch")
            return
        }
        do {
            try federation.restore(try checkpoint.load())
        } catch FederatedError.checkpointMismatch(_, let reason) {
            throw FederatedError.checkpointMismatch(path: checkpoint.path, reason: reason)
        }
        progress.line("resuming after round \(federation.roundsRun), ε \(federation.epsilon) so far")
    }

    /// The towers the federation starts from: the init model's, or freshly initialised from the
    /// config's seed (``resetTowers``); the learned inner rates, if any, stay the init model's.
    func initialTowers(config: ModelConfig, model: LoadedModel) -> [Tower] {
        let spec = config.networkSpec
        let start = resetTowers ? ModelParameters(spec: spec, seed: config.model.seed).towers : model.parameters.towers
        return config.taskSpecs.indices.map { k in
            Tower(parameters: start[k], rates: model.parameters.innerRates(ofTask: k), kind: config.taskSpecs[k].kind,
                  activation: spec.activation)
        }
    }

    /// Writes the model directory beside the current version and publishes it, as `train` does.
    private func publish(parameters: ModelParameters, config: ModelConfig, model: LoadedModel, profile: DataProfile,
                         support: SupportSetBuilder, metrics: [TaskMetrics], rounds: Int) throws -> ModelManifest {
        let publisher = ModelPublisher(root: outputDirectory)
        try publisher.prepare()
        let version = ModelDirectory.newModelVersion()
        let directory = try publisher.beginVersion(version)
        try AtomicFile.write(config.yamlString(), to: directory.configPath)
        try directory.writeJSON(model.encoder.statistics, to: directory.preprocessingPath)
        try model.embeddings.snapshot(to: directory.embeddingsPath)
        try directory.writeParameters(parameters, modelVersion: version)
        let store = try SupportStore(config: SupportStoreConfig(model: config, modelVersion: UInt64(version, radix: 16) ?? 0))
        support.write(to: store)
        try store.snapshot(to: directory.supportPath)
        var byTask: [String: [String: Double]] = [:]
        for (task, m) in zip(config.labels, metrics) { byTask[task.name] = m.definedValues }
        let manifest = ModelManifest(
            modelVersion: version, dataFingerprint: profile.fingerprint.description,
            architecture: config.model.architecture.rawValue, parameterCount: parameters.parameterCount,
            embeddingRows: model.embeddings.rowCount, metrics: byTask, rowsTrained: profile.rows, epochsCompleted: rounds,
            labelRanges: Dictionary(uniqueKeysWithValues: zip(config.labels, profile.labelRanges).compactMap { label, range in
                range.map { (label.name, [Double($0.lowerBound), Double($0.upperBound)]) }
            }))
        try publisher.publish(directory, manifest: manifest)
        return manifest
    }
}

/// Why `metarec federated` cannot run with its inputs.
public enum FederatedJobError: Error, Equatable, CustomStringConvertible {
    case initMismatch(config: String, model: String)

    public var description: String {
        switch self {
        case let .initMismatch(config, model):
            "--init \(model): its network or input layout differs from \(config)'s; the bottom is taken from it frozen, so they must match"
        }
    }
}
