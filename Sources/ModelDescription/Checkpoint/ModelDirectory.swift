import ModelMath
import Foundation
import TensorCore

/// The files of one trained model version (`docs/DESIGN.md` §Formats):
///
/// ```
/// MODEL/                     the path given to train, eval, score, serve (see ModelPublisher)
///   CURRENT                  "v-<model version>": the published version, replaced atomically
///   v-<model version>/       one ModelDirectory:
///     config.yaml              the model config, as trained
///     model.safetensors        every dense tensor by path (experts.0.layers.0.weight, …), float32
///     preprocessing.json       fitted numeric statistics (normalisation)
///     embeddings.snapshot      embedding rows (parameter-server snapshot format)
///     support.snapshot         per-task support store (written when present)
///     manifest.json            format version, model version id, data fingerprint, metrics,
///                              and each file's size and CRC-32
///   checkpoint/              training checkpoints (TrainingCheckpoint), while a run is unfinished
/// ```
/// A model directory is written whole into a staging directory and published by replacing
/// `CURRENT` (``ModelPublisher``); ``resolve(_:)`` is how every loader finds it. The manifest's
/// `modelVersion` is also stamped into `model.safetensors`'s metadata. Directories written
/// before versioned publishing (format version 1: the files directly in `MODEL/`, no
/// `CURRENT`, no checksums) still resolve and load.
public struct ModelDirectory: Sendable {
    /// 2: published as a version directory behind `CURRENT`, with per-file checksums in the manifest.
    public static let formatVersion = 2
    /// The oldest format version this build loads (1: flat directory, no checksums).
    public static let oldestReadableFormatVersion = 1
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { path + "/config.yaml" }
    public var parametersPath: String { path + "/model.safetensors" }
    public var preprocessingPath: String { path + "/preprocessing.json" }
    public var embeddingsPath: String { path + "/embeddings.snapshot" }
    public var supportPath: String { path + "/support.snapshot" }
    public var manifestPath: String { path + "/manifest.json" }

    /// Whether a complete model (a manifest) is present in this very directory.
    public var exists: Bool { FileManager.default.fileExists(atPath: manifestPath) }

    /// The files whose size and checksum the manifest records (the support store only when written).
    public var checksummedFiles: [String] {
        ["config.yaml", "preprocessing.json", "model.safetensors", "embeddings.snapshot", "support.snapshot"]
            .filter { $0 != "support.snapshot" || FileManager.default.fileExists(atPath: path + "/" + $0) }
    }

    /// The model version directory a model path names — the one resolution every loader (serve,
    /// score, eval, warm start) goes through:
    ///
    /// 1. `path/CURRENT` exists: the version directory it names (a malformed pointer is an error);
    /// 2. else `path/manifest.json` exists: `path` itself (a model written before versioned
    ///    publishing, or a version directory given directly);
    /// 3. else: not a model directory. Staging directories and unreferenced versions are never
    ///    candidates.
    /// - Throws: ``CheckpointError`` naming the pointer or the missing manifest.
    public static func resolve(_ path: String) throws -> ModelDirectory {
        if let current = try ModelPublisher(root: path).versions.currentPath() {
            return ModelDirectory(path: current)
        }
        let flat = ModelDirectory(path: path)
        guard flat.exists else {
            throw CheckpointError.io(path: path, reason: "not a model directory (no CURRENT or manifest.json)")
        }
        return flat
    }

    /// Computes the size and CRC-32 of each of ``checksummedFiles``.
    public func fileChecksums() throws -> [String: ModelFileChecksum] {
        var out: [String: ModelFileChecksum] = [:]
        for name in checksummedFiles {
            let (crc, bytes) = try CRC32.checksum(file: path + "/" + name)
            out[name] = ModelFileChecksum(bytes: bytes, crc32: crc)
        }
        return out
    }

    /// Checks every file the manifest lists against its recorded size and CRC-32.
    /// - Throws: ``CheckpointError/malformed(path:reason:)`` naming the first file that differs
    ///   (or ``CheckpointError/io(path:reason:)`` when it is missing); a format-2 manifest
    ///   without checksums, or missing a required file's, is malformed too.
    public func verifyChecksums(_ manifest: ModelManifest) throws {
        guard manifest.formatVersion >= 2 else { return }  // format 1 recorded none
        guard let files = manifest.files else {
            throw CheckpointError.malformed(path: manifestPath, reason: "format version \(manifest.formatVersion) without file checksums")
        }
        for required in ["config.yaml", "preprocessing.json", "model.safetensors", "embeddings.snapshot"] where files[required] == nil {
            throw CheckpointError.malformed(path: manifestPath, reason: "no checksum for \(required)")
        }
        for (name, expected) in files.sorted(by: { $0.key < $1.key }) {
            guard !name.contains("/"), name != "manifest.json" else {
                throw CheckpointError.malformed(path: manifestPath, reason: "lists \(String(reflecting: name)), not a model file")
            }
            let file = path + "/" + name
            let (crc, bytes) = try CRC32.checksum(file: file)
            let found = ModelFileChecksum(bytes: bytes, crc32: crc)
            guard found == expected else {
                throw CheckpointError.malformed(path: file, reason: "checksum mismatch: manifest.json records \(expected), the file has \(found)")
            }
        }
    }

    /// Creates the directory (and parents) when missing.
    public func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: path, reason: "cannot create directory: \(error.localizedDescription)")
        }
    }

    /// Writes the dense parameters, stamped with the model version.
    public func writeParameters(_ parameters: ModelParameters, modelVersion: String) throws {
        let data = SafeTensors.encode(parameters.namedTensors, metadata: ["format": "metarec", "model_version": modelVersion])
        try AtomicFile.write(data, to: parametersPath)
    }

    /// Loads dense parameters into the shapes of `template` (built from the config).
    /// - Parameter warmStart: a warm start may switch Meta-SGD, STAR towers or partitioned norm on or off:
    ///   multipliers (STAR factors) the file lacks keep the template's (1; 1 and 0), those the
    ///   template has no place for are dropped.
    ///   Otherwise the file must hold exactly the template's tensors.
    /// - Returns: the parameters and the model version stamped in the file.
    public func readParameters(like template: ModelParameters, warmStart: Bool = false) throws -> (ModelParameters, modelVersion: String?) {
        let data = try Self.read(parametersPath)
        var (tensors, metadata) = try SafeTensors.decode(data, path: parametersPath)
        if warmStart {
            let isRate = { (name: String) in name.hasPrefix("inner_rates.") }
            if template.innerRates.isEmpty {
                tensors = tensors.filter { !isRate($0.key) }
            } else if !tensors.keys.contains(where: isRate) {
                template.forEachTensor { name, t in if isRate(name) { tensors[name] = t } }
            }
            // STAR towers may be switched on over a plain model (its towers become the shared
            // ones, every scene starting at W_s = 1, b_s = 0) or off (the factors are dropped).
            let isStar = { (name: String) in name.hasPrefix("star_towers.") }
            if template.starTowers.isEmpty {
                tensors = tensors.filter { !isStar($0.key) }
            } else if !tensors.keys.contains(where: isStar) {
                template.forEachTensor { name, t in if isStar(name) { tensors[name] = t } }
            }
            // Partitioned norm likewise: switched on, it starts at the identity (γ = 1, β = 0, μ̂ = 0,
            // σ̂² = 1); switched off, its factors and running statistics are dropped.
            let isNorm = { (name: String) in name.hasPrefix("partitioned_norm.") }
            if template.partitionedNorm.isEmpty {
                tensors = tensors.filter { !isNorm($0.key) }
            } else if !tensors.keys.contains(where: isNorm) {
                template.forEachTensor { name, t in if isNorm(name) { tensors[name] = t } }
            }
        }
        var parameters = template
        try parameters.load(from: tensors, path: parametersPath)
        return (parameters, metadata["model_version"])
    }

    /// Writes a JSON-encodable value atomically.
    public func writeJSON<T: Encodable>(_ value: T, to file: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(value) } catch {
            throw CheckpointError.io(path: file, reason: "cannot encode JSON: \(error)")
        }
        try AtomicFile.write(data, to: file)
    }

    /// Reads a JSON file, naming the file in any error.
    public func readJSON<T: Decodable>(_ type: T.Type, from file: String) throws -> T {
        let data = try Self.read(file)
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw CheckpointError.malformed(path: file, reason: "\(error)")
        }
    }

    /// The bytes of `file`, or a clear error.
    public static func read(_ file: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: file) else { throw CheckpointError.io(path: file, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: file) else { throw CheckpointError.io(path: file, reason: "cannot read") }
        return data
    }

    /// A fresh model version id: 16 hex digits from the time and a random number.
    public static func newModelVersion() -> String {
        let t = UInt64(Date().timeIntervalSince1970 * 1000)
        let r = UInt64.random(in: 0...UInt64.max)
        let v = (t << 20) ^ (r >> 44) ^ (r << 20)
        let hex = String(v, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }
}

/// `manifest.json`: what a model directory holds and where it came from.
public struct ModelManifest: Sendable, Codable, Equatable {
    public var formatVersion: Int
    /// Identifies this generation of the weights; support-store rows written by another
    /// version read as expired.
    public var modelVersion: String
    /// ISO 8601 time of writing.
    public var createdAt: String
    /// Fingerprint of the training data (bytes hash and row count).
    public var dataFingerprint: String
    public var architecture: String
    public var parameterCount: Int
    public var embeddingRows: Int
    /// Validation metrics by task name, then metric name (auc, logloss, rmse, mae).
    public var metrics: [String: [String: Double]]
    /// Training rows seen and epochs completed.
    public var rowsTrained: Int
    public var epochsCompleted: Int
    /// `[min, max]` of each label in the training data, by task name (absent in models written
    /// before it was recorded): the range the serving fallback checks regression predictions against.
    public var labelRanges: [String: [Double]]?
    /// Size and CRC-32 of every other file of the version, by file name (format version 2;
    /// absent in format 1), checked by every load.
    public var files: [String: ModelFileChecksum]?

    public init(modelVersion: String, dataFingerprint: String, architecture: String, parameterCount: Int,
                embeddingRows: Int, metrics: [String: [String: Double]], rowsTrained: Int, epochsCompleted: Int,
                labelRanges: [String: [Double]]? = nil) {
        self.formatVersion = ModelDirectory.formatVersion
        self.modelVersion = modelVersion
        self.createdAt = ISO8601DateFormatter().string(from: Date())
        self.dataFingerprint = dataFingerprint
        self.architecture = architecture
        self.parameterCount = parameterCount
        self.embeddingRows = embeddingRows
        self.metrics = metrics
        self.rowsTrained = rowsTrained
        self.epochsCompleted = epochsCompleted
        self.labelRanges = labelRanges
    }
}

/// A model file's size and CRC-32 as the manifest records them: `{"bytes": 1234, "crc32": "cbf43926"}`
/// (8 lowercase hex digits, zlib's `crc32`: `format(zlib.crc32(data), "08x")` in Python).
public struct ModelFileChecksum: Sendable, Codable, Equatable, CustomStringConvertible {
    public var bytes: Int
    public var crc32: String

    public init(bytes: Int, crc32: UInt32) {
        self.bytes = bytes
        let hex = String(crc32, radix: 16)
        self.crc32 = String(repeating: "0", count: 8 - hex.count) + hex
    }

    public var description: String { "CRC-32 \(crc32) (\(bytes) bytes)" }
}
