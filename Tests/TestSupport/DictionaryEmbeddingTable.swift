import ModelMath
import Synchronization
import TensorCore

/// A plain dictionary-backed ``EmbeddingTable`` for tests: deterministic rows (a function of
/// the key and a seed), SGD updates, and direct row access for finite differences.
public final class DictionaryEmbeddingTable: EmbeddingTable {
    public let dimension: Int
    private let seed: UInt64
    private let learningRate: Float
    private let storage = Mutex<[UInt64: [Float]]>([:])

    public init(dimension: Int, seed: UInt64 = 7, learningRate: Float = 0.1) {
        self.dimension = dimension
        self.seed = seed
        self.learningRate = learningRate
    }

    public var rowCount: Int { storage.withLock { $0.count } }

    /// The stored row of `key` (nil when absent).
    public func row(_ key: UInt64) -> [Float]? { storage.withLock { $0[key] } }

    /// Overwrites the row of `key`.
    public func setRow(_ key: UInt64, _ values: [Float]) {
        precondition(values.count == dimension)
        storage.withLock { $0[key] = values }
    }

    private func initialRow(_ key: UInt64) -> [Float] {
        var rng = SeededRandom(seed: key ^ seed)
        return (0..<dimension).map { _ in (2 * rng.nextUniform() - 1) * 0.5 }
    }

    public func pull(keys: UnsafeBufferPointer<UInt64>, into rows: UnsafeMutableBufferPointer<Float>, create: Bool) {
        precondition(rows.count == keys.count * dimension)
        storage.withLock { table in
            for (i, key) in keys.enumerated() {
                let row: [Float]
                if let existing = table[key] {
                    row = existing
                } else if create {
                    row = initialRow(key)
                    table[key] = row
                } else {
                    row = [Float](repeating: 0, count: dimension)
                }
                for j in 0..<dimension { rows[i * dimension + j] = row[j] }
            }
        }
    }

    public func push(keys: UnsafeBufferPointer<UInt64>, gradients: UnsafeBufferPointer<Float>) {
        storage.withLock { table in
            for (i, key) in keys.enumerated() {
                var row = table[key] ?? initialRow(key)
                for j in 0..<dimension { row[j] -= learningRate * gradients[i * dimension + j] }
                table[key] = row
            }
        }
    }
}
