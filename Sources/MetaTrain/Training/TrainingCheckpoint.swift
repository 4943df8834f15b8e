import Foundation
import ModelDescription
import ModelMath
import TensorCore

/// Crash-safe training checkpoints in `MODEL/checkpoint/`, published like model versions
/// (``VersionedDirectory``: written under a staging name, renamed, then a pointer replaced
/// atomically):
///
/// ```
/// checkpoint/gen-<N>/weights.safetensors   parameters + the dense optimiser's state (optimizer.m.*, optimizer.v.*)
/// checkpoint/gen-<N>/embeddings.snapshot   embedding rows with their optimiser state
/// checkpoint/gen-<N>/state.json            TrainingState
/// checkpoint/LATEST                        "gen-<N>", replaced atomically after gen-<N> is complete
/// checkpoint/best-<id>/                    the best validation epoch's weights and embedding rows
/// checkpoint/BEST                          "best-<id>", the same way
/// ```
/// A kill while writing generation N leaves `LATEST` naming N − 1, which is intact; older
/// generations, and staging directories of killed writers, are removed only after `LATEST`
/// moves on.
public struct TrainingCheckpoint {
    /// `MODEL/checkpoint`.
    public let directory: String
    /// `MODEL`.
    let modelDirectory: String
    /// Saves the embedding table to a path; loads it back.
    public var saveEmbeddings: (String) throws -> Void
    public var loadEmbeddings: (String) throws -> Void

    public init(modelDirectory: String, saveEmbeddings: @escaping (String) throws -> Void,
                loadEmbeddings: @escaping (String) throws -> Void) {
        self.directory = modelDirectory + "/checkpoint"
        self.modelDirectory = modelDirectory
        self.saveEmbeddings = saveEmbeddings
        self.loadEmbeddings = loadEmbeddings
    }

    /// The generations: `LATEST` → `gen-<N>/`.
    var generations: VersionedDirectory { VersionedDirectory(root: directory, pointer: "LATEST", prefix: "gen-") }
    /// The best epoch: `BEST` → `best-<id>/`.
    var best: VersionedDirectory { VersionedDirectory(root: directory, pointer: "BEST", prefix: "best-") }

    /// The newest complete generation, if any (nil also when `LATEST` is unreadable).
    public func latestGeneration() -> Int? {
        guard let name = try? generations.currentName() else { return nil }
        return Int(name.dropFirst(generations.prefix.count))
    }

    /// Whether a generation can be resumed from.
    /// - Throws: when `LATEST` exists but is malformed or names a missing generation.
    public func exists() throws -> Bool { try generations.currentName() != nil }

    /// Writes a new generation and makes it the latest.
    public func save(parameters: ModelParameters, optimizer: DenseOptimizer, state: TrainingState) throws {
        let name = "gen-\((latestGeneration() ?? 0) + 1)"
        let path = try generations.beginStaging(name)
        CrashPoint.reached("checkpoint.staged")
        var tensors = parameters.namedTensors
        tensors += optimizer.m.namedTensors.map { (name: "optimizer.m." + $0.name, tensor: $0.tensor) }
        tensors += optimizer.v.namedTensors.map { (name: "optimizer.v." + $0.name, tensor: $0.tensor) }
        try AtomicFile.write(SafeTensors.encode(tensors, metadata: ["optimizer_step": String(optimizer.step),
                                                                    "optimizer_kind": optimizer.rule.kindName]),
                             to: path + "/weights.safetensors")
        CrashPoint.reached("checkpoint.weights-written")
        try saveEmbeddings(path + "/embeddings.snapshot")
        CrashPoint.reached("checkpoint.embeddings-written")
        try ModelDirectory(path: path).writeJSON(state, to: path + "/state.json")
        CrashPoint.reached("checkpoint.state-written")
        try generations.publish(staged: path, as: name, label: "checkpoint")
        // Older generations are no longer needed once LATEST names this one.
        generations.removeStale()
        CrashPoint.reached("checkpoint.old-removed")
    }

    /// Restores the latest generation into `parameters` (whose shapes come from the config),
    /// `optimizer` and the embedding table.
    public func restore(parameters: inout ModelParameters, optimizer: inout DenseOptimizer) throws -> TrainingState {
        guard let path = try generations.currentPath() else {
            throw CheckpointError.io(path: generations.pointerPath, reason: "no checkpoint to resume from")
        }
        let weightsPath = path + "/weights.safetensors"
        let (tensors, metadata) = try SafeTensors.decode(try ModelDirectory.read(weightsPath), path: weightsPath)
        if let kind = metadata["optimizer_kind"], kind != optimizer.rule.kindName {
            throw CheckpointError.mismatch(path: weightsPath,
                                           reason: "checkpoint holds \(kind) optimiser state; training.optimizer is \(optimizer.rule.kindName)")
        }
        try parameters.load(from: tensors, path: weightsPath)
        var m = optimizer.m, v = optimizer.v
        try m.load(from: Dictionary(uniqueKeysWithValues: tensors.compactMap { name, t in
            name.hasPrefix("optimizer.m.") ? (String(name.dropFirst("optimizer.m.".count)), t) : nil
        }), path: weightsPath)
        try v.load(from: Dictionary(uniqueKeysWithValues: tensors.compactMap { name, t in
            name.hasPrefix("optimizer.v.") ? (String(name.dropFirst("optimizer.v.".count)), t) : nil
        }), path: weightsPath)
        optimizer.m = m
        optimizer.v = v
        optimizer.step = Int(metadata["optimizer_step"] ?? "") ?? 0
        try loadEmbeddings(path + "/embeddings.snapshot")
        return try ModelDirectory(path: path).readJSON(TrainingState.self, from: path + "/state.json")
    }

    /// Keeps the best validation epoch's weights and embedding rows (a new `best-<id>/`,
    /// published through `BEST`), so early stopping can return them.
    public func saveBest(parameters: ModelParameters) throws {
        let name = "best-" + ModelDirectory.newModelVersion()
        let staging = try best.beginStaging(name)
        try AtomicFile.write(SafeTensors.encode(parameters.namedTensors), to: staging + "/weights.safetensors")
        try saveEmbeddings(staging + "/embeddings.snapshot")
        CrashPoint.reached("checkpoint.best-written")
        try best.publish(staged: staging, as: name, label: "checkpoint.best")
        best.removeStale()
    }

    /// Loads the best epoch's weights (into `parameters`) and embedding rows, when saved.
    /// - Returns: whether a best checkpoint existed.
    public func restoreBest(parameters: inout ModelParameters) throws -> Bool {
        guard let bestPath = try best.currentPath() else { return false }
        let weightsPath = bestPath + "/weights.safetensors"
        let (tensors, _) = try SafeTensors.decode(try ModelDirectory.read(weightsPath), path: weightsPath)
        try parameters.load(from: tensors, path: weightsPath)
        try loadEmbeddings(bestPath + "/embeddings.snapshot")
        return true
    }

    /// Removes all checkpoints (after the final model is published, or before a fresh run): the
    /// directory is first renamed to a staging name of the model root in one step, so a kill
    /// never leaves a `LATEST` naming a half-deleted generation; ``ModelPublisher/prepare()``
    /// reclaims the renamed directory if the deletion is cut short.
    public func removeAll() {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        let aside = modelDirectory + "/" + VersionedDirectory.stagingPrefix + "checkpoint-removed-\(getpid())"
        try? FileManager.default.removeItem(atPath: aside)
        guard rename(directory, aside) == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            return
        }
        CrashPoint.reached("checkpoint.removing")
        try? FileManager.default.removeItem(atPath: aside)
    }
}
