import Foundation
import ModelDescription
import ModelMath
import ParamServer

/// `metarec train`: everything from a config and CSV logs to a complete model directory.
///
/// Order matters for crash safety and for "bad input leaves an existing model untouched":
/// 1. the config and *every* input file are parsed in full (fitting normalisation statistics
///    and the data fingerprint) before anything is written;
/// 2. what killed runs left (staging directories, unreferenced versions) is removed
///    (``ModelPublisher/prepare()``), and training writes only under `MODEL/checkpoint/`;
/// 3. the whole new model — config, preprocessing, embeddings, weights, support sets, then the
///    manifest with their checksums — is written into a fresh staging directory beside the
///    current version and published by atomically replacing `MODEL/CURRENT`; then the
///    checkpoints go. A kill at any instant leaves the previous model or the new one.
public struct TrainingJob {
    public var configPath: String
    public var trainingPath: String
    public var validationPath: String?
    public var outputDirectory: String
    /// Continue from `MODEL/checkpoint/` after a crash.
    public var resume = false
    /// Warm start from another model directory's weights and embeddings.
    public var initialModel: String?
    /// Overrides `training.max_bad_rows`.
    public var maxBadRows: Int?
    /// Overrides `training.threads`.
    public var threads: Int?
    /// Overrides `training.epochs`.
    public var epochs: Int?
    /// Seconds between mid-epoch checkpoints.
    public var checkpointInterval: Double = 60

    public init(configPath: String, trainingPath: String, validationPath: String?, outputDirectory: String) {
        self.configPath = configPath
        self.trainingPath = trainingPath
        self.validationPath = validationPath
        self.outputDirectory = outputDirectory
    }

    /// Trains and writes the model directory.
    @discardableResult
    public func run(progress: ProgressReporter) throws -> (report: TrainingReport, manifest: ModelManifest) {
        var config = try ModelConfig.load(yamlFile: configPath)
        if let maxBadRows { config.training.maxBadRows = maxBadRows }
        if let threads { config.training.threads = threads }
        if let epochs { config.training.epochs = epochs }
        // The flags are held to the config's bounds (threads, epochs) like the YAML values.
        if maxBadRows != nil || threads != nil || epochs != nil { try config.validate(source: configPath) }
        let options = CSVReadOptions(maxBadRows: config.training.maxBadRows)

        // A warm start that would load parameters into other scenes' places is refused before any data is read.
        if let initialModel {
            let source = try ModelConfig.load(yamlFile: try ModelDirectory.resolve(initialModel).configPath)
            if let mismatch = config.sceneMismatch(warmStartingFrom: source) {
                throw ConfigError.invalidValue(source: configPath, keyPath: "--init", line: nil, reason: mismatch)
            }
        }
        progress.line("reading \(trainingPath)")
        let profile = try DataProfile.fit(path: trainingPath, config: config, options: options)
        if profile.badRows > 0 {
            progress.log(.warning, "skipped \(profile.badRows) bad rows in \(trainingPath)",
                         metadata: ["event": "bad_rows_skipped", "file": "\(trainingPath)", "bad_rows": "\(profile.badRows)"])
        }
        let encoder = try FeatureEncoder(config: config, statistics: profile.statistics)
        if let validationPath {
            let validationProfile = try DataProfile.fit(path: validationPath, config: config, options: options)
            progress.line("validation: \(validationProfile.rows) rows")
        }
        progress.line("training: \(profile.rows) rows, fingerprint \(profile.fingerprint)")

        let store = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
        var initialParameters: ModelParameters? = nil
        if let initialModel {
            let directory = try ModelDirectory.resolve(initialModel)
            initialParameters = try directory.readParameters(like: ModelParameters(spec: config.networkSpec, seed: config.model.seed),
                                                             warmStart: true).0
            try store.restore(from: directory.embeddingsPath)
            progress.line("warm start from \(initialModel)")
        }
        // One writer per model root: held until this run has published (or failed).
        let writerLock = try ModelWriterLock(root: outputDirectory)
        defer { writerLock.release() }
        let checkpoint = TrainingCheckpoint(
            modelDirectory: outputDirectory,
            saveEmbeddings: { path in try store.snapshot(to: path) },
            loadEmbeddings: { path in try store.restore(from: path) })
        let trainer = Trainer(config: config, table: store, initialParameters: initialParameters, checkpoint: checkpoint)
        trainer.checkpointInterval = checkpointInterval
        try ModelPublisher(root: outputDirectory).prepare()
        try startOrResume(trainer, checkpoint: checkpoint, fingerprint: profile.fingerprint.description, progress: progress)
        CrashPoint.reached("train.started")
        let chunk = 4096, supportEncoder = config.supportEncoder
        // The support encoder's pools are attached in file order, before the trainer's shuffle;
        // a validation row also pools its user's training rows (the training log's history).
        let trainingHistory = try validationPath.flatMap { path in try supportEncoder.map { pooling in
            var validationRows = try CSVBatchStream(path: path, encoder: encoder, options: options, chunkRows: chunk)
            let users = try SupportHistory.taskKeys(of: &validationRows)
            var pass = try CSVBatchStream(path: trainingPath, encoder: encoder, options: options, chunkRows: chunk)
            return try SupportHistory.afterPass(over: &pass, encoder: pooling, tasks: users)
        } }
        let data = TrainingData(
            trainingPass: {
                SupportEncodedStream(try CSVBatchStream(path: trainingPath, encoder: encoder, options: options, chunkRows: chunk),
                                     encoder: supportEncoder)
            },
            validationPass: validationPath.map { path in {
                SupportEncodedStream(try CSVBatchStream(path: path, encoder: encoder, options: options, chunkRows: chunk),
                                     encoder: supportEncoder, prior: trainingHistory.map { history in { history.rows(of: $0) } })
            } },
            trainingRows: profile.rows, fingerprint: profile.fingerprint.description)
        let report = try trainer.train(data: data, progress: progress)
        CrashPoint.reached("train.finished")
        let manifest = try publishModel(config: config, profile: profile, encoder: encoder, store: store, trainer: trainer, report: report,
                                        progress: progress)
        checkpoint.removeAll()
        CrashPoint.reached("train.checkpoints-removed")
        progress.line("wrote \(outputDirectory) (model version \(manifest.modelVersion), \(report.rowsTrained) rows trained, \(Int(report.rowsPerSecond)) rows/s)")
        return (report, manifest)
    }

    /// `--resume`: continues from the latest checkpoint, or starts from scratch with a message
    /// when there is none (a kill before the first checkpoint). Without `--resume`, checkpoints
    /// of an earlier unfinished run are removed, so a later `--resume` continues this run.
    private func startOrResume(_ trainer: Trainer, checkpoint: TrainingCheckpoint, fingerprint: String,
                               progress: ProgressReporter) throws {
        if !resume {
            // Even a damaged pointer: a fresh run needs none of it.
            if (try? checkpoint.exists()) != false {
                progress.line("removing the checkpoints of an earlier unfinished run in \(checkpoint.directory)")
            }
            checkpoint.removeAll()
        } else if try checkpoint.exists() {
            try trainer.resume(expectingFingerprint: fingerprint)
            progress.line("resuming at epoch \(trainer.state.epoch + 1), batch \(trainer.state.batchesDone)")
        } else {
            progress.line("no checkpoint in \(checkpoint.directory) to resume from: starting from scratch")
        }
    }

    /// Writes the final model into a staging directory beside the current version and publishes
    /// it (``ModelPublisher``); the crash points name each file as it lands.
    private func publishModel(config: ModelConfig, profile: DataProfile, encoder: FeatureEncoder, store: EmbeddingStore,
                              trainer: Trainer, report: TrainingReport, progress: ProgressReporter) throws -> ModelManifest {
        let publisher = ModelPublisher(root: outputDirectory)
        let version = ModelDirectory.newModelVersion()
        let directory = try publisher.beginVersion(version)
        CrashPoint.reached("model.staged")
        try AtomicFile.write(config.yamlString(), to: directory.configPath)
        CrashPoint.reached("model.config-written")
        try directory.writeJSON(profile.statistics, to: directory.preprocessingPath)
        CrashPoint.reached("model.preprocessing-written")
        try store.snapshot(to: directory.embeddingsPath)
        CrashPoint.reached("model.embeddings-written")
        try directory.writeParameters(trainer.bestParameters, modelVersion: version)
        CrashPoint.reached("model.parameters-written")
        // Serving starts warm: each task's most recent training rows as meta-layer inputs of
        // the final model, tagged with its version.
        progress.line("building support sets (\(config.supportStore.capacity) most recent rows per task)")
        var supportStream = SupportEncodedStream(
            try CSVBatchStream(path: trainingPath, encoder: encoder,
                               options: CSVReadOptions(maxBadRows: config.training.maxBadRows), chunkRows: 4096),
            encoder: config.supportEncoder)
        let supportSets = try SupportSetBuilder.build(
            from: &supportStream, parameters: trainer.bestParameters, spec: config.networkSpec, layout: config.inputLayout,
            table: store, capacity: config.supportStore.capacity, keyColumn: config.supportEncoder?.sourceColumn)
        CrashPoint.reached("model.support-built")
        let support = try SupportStore(config: SupportStoreConfig(model: config, modelVersion: UInt64(version, radix: 16) ?? 0))
        supportSets.write(to: support)
        try support.snapshot(to: directory.supportPath)
        CrashPoint.reached("model.support-written")
        var metrics: [String: [String: Double]] = [:]
        for (task, m) in zip(config.labels, report.validationMetrics) { metrics[task.name] = m.definedValues }
        let manifest = ModelManifest(
            modelVersion: version, dataFingerprint: profile.fingerprint.description,
            architecture: config.model.architecture.rawValue, parameterCount: trainer.bestParameters.parameterCount,
            embeddingRows: store.rowCount, metrics: metrics, rowsTrained: report.rowsTrained,
            epochsCompleted: report.epochsCompleted,
            labelRanges: Dictionary(uniqueKeysWithValues: zip(config.labels, profile.labelRanges).compactMap { label, range in
                range.map { (label.name, [Double($0.lowerBound), Double($0.upperBound)]) }
            }))
        try publisher.publish(directory, manifest: manifest)
        return manifest
    }
}

extension TaskMetrics {
    /// The metrics present, by name (`auc`, `logloss`, `rmse`, `mae`); NaN where undefined (an
    /// AUC over one class).
    public var values: [String: Double] {
        var out: [String: Double] = [:]
        if let auc { out["auc"] = auc }
        if let logLoss { out["logloss"] = logLoss }
        if let rmse { out["rmse"] = rmse }
        if let mae { out["mae"] = mae }
        return out
    }

    /// ``values`` without the undefined ones, for the model manifest: a metric undefined on the
    /// validation rows (NaN: an AUC over one class, any metric of no rows) is left out, as JSON
    /// has no NaN and the model must still be written.
    public var definedValues: [String: Double] { values.filter { $0.value.isFinite } }
}
