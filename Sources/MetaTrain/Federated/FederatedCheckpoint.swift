import Foundation
import ModelDescription

/// A federated run's checkpoint: `MODEL/checkpoint/federated.json`, the run's key (data
/// fingerprint, init model version, settings) and a ``FederatedAveraging/Snapshot``, written
/// atomically every few rounds and removed once the model is published. A resumed run with
/// another key is refused.
public struct FederatedCheckpoint {
    public let path: String
    /// What the checkpoint must match to be resumed.
    public let key: String

    public init(modelDirectory: String, key: String) {
        path = modelDirectory + "/checkpoint/federated.json"
        self.key = key
    }

    struct File: Codable {
        var key: String
        var snapshot: FederatedAveraging.Snapshot
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    public func save(_ snapshot: FederatedAveraging.Snapshot) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try AtomicFile.write(try JSONEncoder().encode(File(key: key, snapshot: snapshot)), to: path)
    }

    /// The saved snapshot; throws ``FederatedError/checkpointMismatch(path:reason:)`` when it
    /// is unreadable or belongs to another run.
    public func load() throws -> FederatedAveraging.Snapshot {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw FederatedError.checkpointMismatch(path: path, reason: "unreadable (\(error))")
        }
        guard file.key == key else {
            throw FederatedError.checkpointMismatch(path: path, reason: "written by another run (data, --init model or settings differ)")
        }
        return file.snapshot
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
