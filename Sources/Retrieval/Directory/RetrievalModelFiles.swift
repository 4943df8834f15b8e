import Foundation
import ModelDescription
import TensorCore

/// A retrieval model as loaded: its manifest, parameters and item index.
public struct RetrievalModel: Sendable {
    public var manifest: RetrievalManifest
    public var parameters: RetrievalParameters
    public var index: ItemIndex
    /// The version directory it was read from.
    public var path: String
}

/// A retrieval model directory, versioned like the ranker's (`docs/DESIGN.md` §Formats,
/// ``ModelDescription/VersionedDirectory``):
///
/// ```
/// MODEL/CURRENT                       "v-<model version>\n", replaced atomically
/// MODEL/v-<model version>/
///   parameters.safetensors            every tensor of RetrievalParameters, metadata model_version
///   item_embeddings.safetensors       V (N, d), normalised, as searched; metadata model_version
///   item_keys.json                    the N item keys, row order
///   retrieval.json                    RetrievalManifest, last: settings, report, {"bytes", "crc32"} of the others
/// ```
/// A directory without `CURRENT` but with `retrieval.json` is read as itself (format 1: written
/// before versioning, no checksums, keys = the catalogue's ids).
public enum RetrievalModelFiles {
    public static let manifestFile = "retrieval.json", parametersFile = "parameters.safetensors"

    static func versions(_ root: String) -> VersionedDirectory { VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-") }

    /// Writes a new version of the model under `root` and publishes it; the version replaced is
    /// kept, older ones and killed runs' leftovers removed.
    /// - Parameter keys: the item key of each catalogue row (default: the catalogue ids).
    /// - Returns: the published version directory.
    @discardableResult
    public static func write(_ trained: TrainedRetrieval, config: RetrievalConfig, catalogue: [Int], keys: [String]? = nil,
                             to root: String) throws -> String {
        let index = try ItemIndex(embeddings: trained.itemEmbeddings, keys: keys ?? catalogue.map(String.init))
        let version = "retrieval-\(ModelDirectory.newModelVersion())-seed\(config.seed)"
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw CheckpointError.io(path: root, reason: "cannot create directory: \(error.localizedDescription)")
        }
        let versions = versions(root)
        versions.removeStale()
        let staged = try versions.beginStaging("v-" + version)
        try AtomicFile.write(SafeTensors.encode(trained.parameters.namedTensors, metadata: ["model_version": version]),
                             to: staged + "/" + parametersFile)
        try index.write(to: staged, modelVersion: version)
        var manifest = RetrievalManifest(config: config, version: version, catalogue: catalogue, trained: trained)
        var files: [String: ModelFileChecksum] = [:]
        for name in [parametersFile, ItemIndex.embeddingsFile, ItemIndex.keysFile] {
            let (crc, bytes) = try CRC32.checksum(file: staged + "/" + name)
            files[name] = ModelFileChecksum(bytes: bytes, crc32: crc)
        }
        manifest.files = files
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(manifest), to: staged + "/" + manifestFile)
        let previous = try? versions.currentName()
        try versions.publish(staged: staged, as: "v-" + version, label: "retrieval")
        versions.removeStale(keeping: previous.map { [$0] } ?? [])
        return root + "/v-" + version
    }

    /// The version directory `root` names: `CURRENT`'s, else `root` itself when it holds a manifest.
    public static func resolve(_ root: String) throws -> String {
        if let current = try versions(root).currentPath() { return current }
        guard FileManager.default.fileExists(atPath: root + "/" + manifestFile) else {
            throw CheckpointError.io(path: root, reason: "not a retrieval model directory (no CURRENT or \(manifestFile))")
        }
        return root
    }

    /// Reads the model `root` names, checking every file against the manifest's checksums,
    /// versions and shapes before using it.
    /// - Throws: ``CheckpointError`` (missing, unreadable, malformed, checksum mismatch) or
    ///   ``RetrievalError/mismatch(_:)`` (shapes, key count, versions, non-finite values).
    public static func read(_ root: String) throws -> RetrievalModel {
        let path = try resolve(root)
        let manifestPath = path + "/" + manifestFile
        let manifest: RetrievalManifest
        do { manifest = try JSONDecoder().decode(RetrievalManifest.self, from: ModelDirectory.read(manifestPath)) } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.malformed(path: manifestPath, reason: "\(error)")
        }
        let format = manifest.formatVersion ?? 1
        guard format <= RetrievalManifest.currentFormat else {
            throw CheckpointError.malformed(path: manifestPath, reason: "format version \(format), this build reads up to \(RetrievalManifest.currentFormat)")
        }
        guard manifest.encoderKind != nil else {
            throw CheckpointError.malformed(path: manifestPath, reason: "encoder \"\(manifest.encoder)\" does not match its widths "
                + "(gruHidden \(manifest.gruHidden.map(String.init) ?? "none"), lstmHidden \(manifest.lstmHidden.map(String.init) ?? "none"), "
                + "cnnFilters \(manifest.cnnFilters.map(String.init) ?? "none"), cnnWidth \(manifest.cnnWidth.map(String.init) ?? "none"))")
        }
        do { try manifest.config.validate() } catch {
            throw CheckpointError.malformed(path: manifestPath, reason: "\(error)")
        }
        switch (manifest.adaptSteps, manifest.adaptRate, manifest.adaptSupport) {
        case (nil, nil, nil): break
        case let (steps?, rate?, support?):
            do { _ = try UserAdaptation(steps: steps, rate: rate, supportSize: support) } catch {
                throw CheckpointError.malformed(path: manifestPath, reason: "\(error)")
            }
        default:
            throw CheckpointError.malformed(path: manifestPath, reason: "adaptSteps, adaptRate and adaptSupport are given together or not at all")
        }
        if format >= 2 { try verifyChecksums(manifest, in: path) }
        let paramPath = path + "/" + parametersFile
        let (tensors, meta) = try SafeTensors.decode(ModelDirectory.read(paramPath), path: paramPath)
        guard meta["model_version"] == manifest.modelVersion else {
            throw RetrievalError.mismatch("\(paramPath): model version \(meta["model_version"] ?? "none"), the manifest's is \(manifest.modelVersion)")
        }
        let parameters = try RetrievalParameters(config: manifest.config, tensors: tensors)
        for (name, t) in parameters.namedTensors where !t.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) {
            throw RetrievalError.mismatch("\(paramPath): \(name) holds a NaN or infinite value")
        }
        let index: ItemIndex
        if format >= 2 {
            index = try ItemIndex.read(from: path, modelVersion: manifest.modelVersion, items: manifest.items, dimension: manifest.dimension)
        } else {
            let vPath = path + "/" + ItemIndex.embeddingsFile
            let (items, itemMeta) = try SafeTensors.decode(ModelDirectory.read(vPath), path: vPath)
            guard itemMeta["model_version"] == manifest.modelVersion, let v = items["item_embeddings"], v.shape == [manifest.items, manifest.dimension] else {
                throw RetrievalError.mismatch("\(vPath): item_embeddings must be [\(manifest.items), \(manifest.dimension)] of version \(manifest.modelVersion)")
            }
            index = try ItemIndex(embeddings: v, keys: manifest.catalogue.map(String.init), source: path)
        }
        return RetrievalModel(manifest: manifest, parameters: parameters, index: index, path: path)
    }

    /// Checks the three data files' sizes and CRC-32s against the manifest.
    static func verifyChecksums(_ manifest: RetrievalManifest, in path: String) throws {
        let required = [parametersFile, ItemIndex.embeddingsFile, ItemIndex.keysFile]
        guard let files = manifest.files, required.allSatisfy({ files[$0] != nil }) else {
            throw CheckpointError.malformed(path: path + "/" + manifestFile, reason: "format 2 without the checksums of \(required.joined(separator: ", "))")
        }
        for name in required {
            let (crc, bytes) = try CRC32.checksum(file: path + "/" + name)
            let found = ModelFileChecksum(bytes: bytes, crc32: crc)
            guard found == files[name] else {
                throw CheckpointError.malformed(path: path + "/" + name,
                                                reason: "checksum mismatch: \(manifestFile) records \(files[name]!), the file has \(found)")
            }
        }
    }
}
