import Foundation

/// Writes a whole model version beside the current one and publishes it with one atomic step
/// (`docs/DESIGN.md` §Formats):
///
/// ```
/// let publisher = ModelPublisher(root: "MODEL")
/// try publisher.prepare()                              // root created; stale temporaries removed
/// let staged = try publisher.beginVersion(version)     // MODEL/.staging-v-<version>-<pid>/
/// … write config, preprocessing, weights, embeddings, support into staged …
/// try publisher.publish(staged, manifest: manifest)    // checksums, manifest, rename, CURRENT
/// ```
///
/// Until `CURRENT` is replaced, every loader (``ModelDirectory/resolve(_:)``) sees the previous
/// model; from then on, the new one. The version replaced is kept (a server that resolved it a
/// moment earlier can still read it); older ones, staging directories and the files of a
/// format-1 (flat) model at the root are removed after publishing. One writer at a time per root
/// (``ModelWriterLock``, taken by `train` and `federated`).
public struct ModelPublisher: Sendable {
    /// The model path (`--out`): the pointer, the versions and the training checkpoints.
    public let root: String

    public init(root: String) { self.root = root }

    /// The versions: `CURRENT` → `v-<model version>/`.
    public var versions: VersionedDirectory { VersionedDirectory(root: root, pointer: "CURRENT", prefix: "v-") }

    /// The files of a format-1 model, directly in the root (and their writers' temporary files).
    static let flatFiles = ["manifest.json", "config.yaml", "model.safetensors", "preprocessing.json",
                            "embeddings.snapshot", "support.snapshot"]

    /// Creates the root when missing and removes what a killed writer left: staging directories,
    /// the pointer's temporary files, versions `CURRENT` does not name, and temporary files of
    /// the format-1 writer. Never touches the current version or a format-1 model's files.
    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.io(path: root, reason: "cannot create directory: \(error.localizedDescription)")
        }
        versions.removeStale()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names where Self.flatFiles.contains(where: { name.hasPrefix(".\($0).tmp-") }) {
            try? FileManager.default.removeItem(atPath: root + "/" + name)
        }
    }

    /// A fresh, empty staging directory for the model version `version` (16 hex digits).
    public func beginVersion(_ version: String) throws -> ModelDirectory {
        ModelDirectory(path: try versions.beginStaging("v-" + version))
    }

    /// Records the staged files' checksums in `manifest`, writes it into the staging directory
    /// (last), and publishes the version; then removes versions older than the one replaced and
    /// a format-1 model's files at the root.
    /// - Returns: the published version's directory.
    @discardableResult
    public func publish(_ staged: ModelDirectory, manifest: ModelManifest) throws -> ModelDirectory {
        var manifest = manifest
        manifest.formatVersion = ModelDirectory.formatVersion
        manifest.files = try staged.fileChecksums()
        try staged.writeJSON(manifest, to: staged.manifestPath)
        CrashPoint.reached("model.manifest-written")
        let previous = try? versions.currentName()
        let name = "v-" + manifest.modelVersion
        try versions.publish(staged: staged.path, as: name, label: "model")
        versions.removeStale(keeping: previous.map { [$0] } ?? [])
        CrashPoint.reached("model.old-versions-removed")
        removeFlatModel()
        return ModelDirectory(path: root + "/" + name)
    }

    /// Removes a format-1 model's files from the root (manifest first, so a kill midway leaves
    /// no flat model that looks complete; `CURRENT` takes precedence anyway).
    func removeFlatModel() {
        if FileManager.default.fileExists(atPath: root + "/manifest.json") {
            for name in Self.flatFiles { try? FileManager.default.removeItem(atPath: root + "/" + name) }
        }
        CrashPoint.reached("model.flat-files-removed")
    }
}
