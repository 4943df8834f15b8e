import Retrieval
import TensorCore
import TestSupport

/// Shared fixtures: seeded histories with padding, empty and full rows.
enum RetrievalFixtures {
    static let seeds: [UInt64] = [1, 2]

    /// `B` histories of lengths cycling through 0 … L (B = 1 included by the callers), ids in `0 ..< items`.
    static func histories(count: Int, maxLength: Int, items: Int, seed: UInt64) -> HistoryBatch {
        var rng = SeededRandom(seed: seed)
        var batch = HistoryBatch(maxLength: maxLength)
        for b in 0..<count {
            let length = count == 1 ? maxLength : (b * 7 + Int(seed)) % (maxLength + 1)
            batch.append((0..<length).map { _ in Int32(Int(rng.next() % UInt64(items))) })
        }
        return batch
    }

    /// A tensor of random values with a different distribution from `randomTensor` (fill for outputs).
    static func garbage(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: .nan) }
}
