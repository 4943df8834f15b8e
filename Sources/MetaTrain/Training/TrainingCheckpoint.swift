import Foundation
import ModelDescription
import ModelMath
import TensorCore

/// Crash-safe training checkpoints in `MODEL/checkpoint/`:
///
/// ```
/// checkpoint/gen-<N>/weights.safetensors   parameters + the dense optimiser's state (optimizer.m.*, optimizer.v.*)
/// checkpoint/gen-<N>/embeddings.snapshot   embedding rows with their optimiser state
/// checkpoint/gen-<N>/state.json            TrainingState
/// checkpoint/LATEST                        "<N>", replaced atomically after gen-<N> is complete
/// ```
/// A crash while writing generation N leaves `LATEST` naming N − 1, which is intact; older
/// generations are removed only after `LATEST` moves on.
public struct TrainingCheckpoint {
    public let directory: String
    /// Saves the embedding table to a path; loads it back.
    public var saveEmbeddings: (String) throws -> Void
    public var loadEmbeddings: (String) throws -> Void

    public init(modelDirectory: String, saveEmbeddings: @escaping (String) throws -> Void,
                loadEmbeddings: @escaping (String) throws -> Void) {
        self.directory = modelDirectory + "/checkpoint"
        self.saveEmbeddings = saveEmbeddings
        self.loadEmbeddings = loadEmbeddings
    }

    private var latestPath: String { directory + "/LATEST" }
    private func generationPath(_ n: Int) -> String { directory + "/gen-\(n)" }

    /// The newest complete generation, if any.
    public func latestGeneration() -> Int? {
        guard let data = FileManager.default.contents(atPath: latestPath),
              let text = String(data: data, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Writes a new generation and makes it the latest.
    public func save(parameters: ModelParameters, optimizer: DenseOptimizer, state: TrainingState) throws {
        let n = (latestGeneration() ?? 0) + 1
        let path = generationPath(n)
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot create checkpoint directory: \(error.localizedDescription)")
        }
        var tensors = parameters.namedTensors
        tensors += optimizer.m.namedTensors.map { (name: "optimizer.m." + $0.name, tensor: $0.tensor) }
        tensors += optimizer.v.namedTensors.map { (name: "optimizer.v." + $0.name, tensor: $0.tensor) }
        try AtomicFile.write(SafeTensors.encode(tensors, metadata: ["optimizer_step": String(optimizer.step),
                                                                    "optimizer_kind": optimizer.rule.kindName]),
                             to: path + "/weights.safetensors")
        try saveEmbeddings(path + "/embeddings.snapshot")
        try ModelDirectory(path: path).writeJSON(state, to: path + "/state.json")
        try AtomicFile.write("\(n)\n", to: latestPath)
        // Older generations are no longer needed once LATEST names this one.
        for old in 1..<n { try? FileManager.default.removeItem(atPath: generationPath(old)) }
    }

    /// Restores the latest generation into `parameters` (whose shapes come from the config),
    /// `optimizer` and the embedding table.
    public func restore(parameters: inout ModelParameters, optimizer: inout DenseOptimizer) throws -> TrainingState {
        guard let n = latestGeneration() else {
            throw CheckpointError.io(path: latestPath, reason: "no checkpoint to resume from")
        }
        let path = generationPath(n)
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

    private var bestPath: String { directory + "/best" }

    /// Keeps the best validation epoch's weights and embedding rows in `checkpoint/best/`
    /// (written to `best.tmp/` first, then renamed), so early stopping can return them.
    public func saveBest(parameters: ModelParameters) throws {
        let staging = directory + "/best.tmp"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: staging, reason: "cannot create directory: \(error.localizedDescription)")
        }
        try AtomicFile.write(SafeTensors.encode(parameters.namedTensors), to: staging + "/weights.safetensors")
        try saveEmbeddings(staging + "/embeddings.snapshot")
        try? FileManager.default.removeItem(atPath: bestPath)
        guard rename(staging, bestPath) == 0 else {
            throw CheckpointError.io(path: bestPath, reason: "cannot rename \(staging)")
        }
    }

    /// Loads the best epoch's weights (into `parameters`) and embedding rows, when saved.
    /// - Returns: whether a best checkpoint existed.
    public func restoreBest(parameters: inout ModelParameters) throws -> Bool {
        let weightsPath = bestPath + "/weights.safetensors"
        guard FileManager.default.fileExists(atPath: weightsPath) else { return false }
        let (tensors, _) = try SafeTensors.decode(try ModelDirectory.read(weightsPath), path: weightsPath)
        try parameters.load(from: tensors, path: weightsPath)
        try loadEmbeddings(bestPath + "/embeddings.snapshot")
        return true
    }

    /// Removes all checkpoints (after the final model is written).
    public func removeAll() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
