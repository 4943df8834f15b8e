import ModelMath
import Foundation
import TensorCore

/// The files of a trained model (`docs/DESIGN.md` §Formats):
///
/// ```
/// MODEL/
///   config.yaml              the model config, as trained
///   model.safetensors        every dense tensor by path (experts.0.layers.0.weight, …), float32
///   preprocessing.json       fitted numeric statistics (normalisation)
///   embeddings.snapshot      embedding rows (parameter-server snapshot format)
///   support.snapshot         per-task support store (written when present)
///   manifest.json            format version, model version id, data fingerprint, metrics
/// ```
/// Every file is written atomically; `manifest.json` is written last, so a directory with a
/// manifest is complete, and the manifest's `modelVersion` is stamped into
/// `model.safetensors`'s metadata so mixed generations are detected on load.
public struct ModelDirectory: Sendable {
    public static let formatVersion = 1
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { path + "/config.yaml" }
    public var parametersPath: String { path + "/model.safetensors" }
    public var preprocessingPath: String { path + "/preprocessing.json" }
    public var embeddingsPath: String { path + "/embeddings.snapshot" }
    public var supportPath: String { path + "/support.snapshot" }
    public var manifestPath: String { path + "/manifest.json" }

    /// Whether a complete model (a manifest) is present.
    public var exists: Bool { FileManager.default.fileExists(atPath: manifestPath) }

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
    /// - Parameter warmStart: a warm start may switch Meta-SGD on or off: multipliers the file
    ///   lacks keep the template's (1), multipliers the template has no place for are dropped.
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
