import Foundation
import ModelDescription
import TensorCore

/// The item index of a retrieval model: `V`, the normalised item embeddings as searched, and the
/// item key of each row (`docs/DESIGN.md` §Retrieval).
///
/// ```
/// V     (N, d)   row i = v_i = normalize(MLP_i([e_i | genres_i])), finite
/// keys  (N)      keys[i] = the item key of row i (the ranker's item feature value), unique, non-empty
/// ```
/// Files: `item_embeddings.safetensors` (the tensor `item_embeddings`, metadata `model_version`)
/// and `item_keys.json` (a JSON array of `N` strings).
public struct ItemIndex: Sendable {
    /// `V`, `(N, d)`.
    public let embeddings: Tensor
    /// `N` item keys, row order.
    public let keys: [String]
    /// Key → row of `V`.
    public let rows: [String: Int32]

    /// An index over `embeddings` `(N, d)` with one key per row.
    /// - Throws: ``RetrievalError/mismatch(_:)`` when the shapes and the keys disagree, a key is
    ///   empty or repeated, or a value is NaN or infinite (naming the row).
    public init(embeddings: Tensor, keys: [String], source: String = "item index") throws(RetrievalError) {
        guard embeddings.rank == 2, embeddings.shape[1] >= 1 else {
            throw .mismatch("\(source): item_embeddings has shape \(embeddings.shape), expected (N, d) with d ≥ 1")
        }
        let (n, d) = (embeddings.shape[0], embeddings.shape[1])
        guard keys.count == n else { throw .mismatch("\(source): \(keys.count) item keys for \(n) embedding rows") }
        guard n <= Int(Int32.max) else { throw .mismatch("\(source): \(n) items, more than \(Int32.max)") }
        var rows: [String: Int32] = [:]
        rows.reserveCapacity(n)
        for (i, key) in keys.enumerated() {
            guard !key.isEmpty else { throw .mismatch("\(source): item key \(i) is empty") }
            guard rows.updateValue(Int32(i), forKey: key) == nil else { throw .mismatch("\(source): item key \(String(reflecting: key)) appears twice") }
        }
        let bad: Int? = embeddings.withUnsafeBufferPointer { v in (0..<v.count).first { !v[$0].isFinite } }
        if let bad { throw .mismatch("\(source): item_embeddings row \(bad / d) (key \(String(reflecting: keys[bad / d]))) is not finite") }
        self.embeddings = embeddings
        self.keys = keys
        self.rows = rows
    }

    /// `N`.
    public var count: Int { keys.count }
    /// `d`.
    public var dimension: Int { embeddings.shape[1] }

    /// File names inside a retrieval model version.
    public static let embeddingsFile = "item_embeddings.safetensors", keysFile = "item_keys.json"

    /// Writes both files into `directory` atomically, `V` stamped with `modelVersion`.
    public func write(to directory: String, modelVersion: String) throws {
        try AtomicFile.write(SafeTensors.encode([("item_embeddings", embeddings)], metadata: ["model_version": modelVersion]),
                             to: directory + "/" + Self.embeddingsFile)
        try AtomicFile.write(JSONEncoder().encode(keys), to: directory + "/" + Self.keysFile)
    }

    /// Reads both files of `directory`, checking them against each other and against the
    /// manifest's `modelVersion`, `items` and `dimension`.
    /// - Throws: ``CheckpointError`` for an unreadable or malformed file, ``RetrievalError/mismatch(_:)``
    ///   for a version, shape or key-count mismatch or a non-finite value.
    public static func read(from directory: String, modelVersion: String, items: Int, dimension: Int) throws -> ItemIndex {
        let vPath = directory + "/" + embeddingsFile, kPath = directory + "/" + keysFile
        let (tensors, meta) = try SafeTensors.decode(ModelDirectory.read(vPath), path: vPath)
        guard meta["model_version"] == modelVersion else {
            throw RetrievalError.mismatch("\(vPath): model version \(meta["model_version"] ?? "none"), the manifest's is \(modelVersion)")
        }
        guard let v = tensors["item_embeddings"], tensors.count == 1 else {
            throw RetrievalError.mismatch("\(vPath): expected exactly one tensor item_embeddings, found \(tensors.keys.sorted())")
        }
        guard v.shape == [items, dimension] else {
            throw RetrievalError.mismatch("\(vPath): item_embeddings has shape \(v.shape), the manifest says [\(items), \(dimension)]")
        }
        let keys: [String]
        do { keys = try JSONDecoder().decode([String].self, from: ModelDirectory.read(kPath)) } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.malformed(path: kPath, reason: "expected a JSON array of strings: \(error)")
        }
        return try ItemIndex(embeddings: v, keys: keys, source: directory)
    }
}
