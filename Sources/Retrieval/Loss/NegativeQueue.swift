import TensorCore

/// A FIFO queue of recent batches' item embeddings and their item ids: the cross-batch negatives
/// of ``SampledSoftmax`` (He et al.'s MoCo queue; Wang et al. 2021, cross-batch negative sampling).
///
/// ```
/// embeddings (M, d)   rows 0 ..< count hold entries; when full, a push overwrites the oldest
/// ids        (M)      the catalogue row of each entry (for accidental-hit masking and log q)
/// ```
/// Entries are constants to the loss: they were computed by an older item tower and receive no
/// gradient (their staleness is the price of the extra negatives).
public struct NegativeQueue: Sendable {
    /// `(M, d)` entries; only rows `0 ..< count` are meaningful.
    public private(set) var embeddings: Tensor
    /// `(M)` item ids of the entries.
    public private(set) var ids: [Int32]
    /// Entries held, `≤ capacity`.
    public private(set) var count = 0
    /// The row the next push writes first.
    private var head = 0

    /// An empty queue of `capacity` rows of width `dimension` (`capacity` 0: no cross-batch negatives).
    public init(capacity: Int, dimension: Int) {
        precondition(capacity >= 0 && dimension >= 1, "NegativeQueue: capacity \(capacity), dimension \(dimension)")
        embeddings = Tensor(shape: [capacity, dimension])
        ids = [Int32](repeating: -1, count: capacity)
    }

    /// `M`.
    public var capacity: Int { ids.count }

    /// Appends the rows of `items` `(B, d)` with their `itemIDs`, dropping the oldest entries
    /// when full (a batch larger than the queue keeps its last `M` rows).
    public mutating func push(_ items: Tensor, itemIDs: [Int32]) {
        let d = embeddings.shape[1]
        precondition(items.shape == [itemIDs.count, d], "NegativeQueue.push: items \(items.shape) for \(itemIDs.count) ids, d = \(d)")
        guard capacity > 0 else { return }
        let first = max(0, itemIDs.count - capacity), capacity = self.capacity
        var slot = head
        Borrow.update(&embeddings, &ids) { e, stored in
            Borrow.read(items) { x in
                for b in first..<itemIDs.count {
                    (e + slot * d).update(from: x + b * d, count: d)
                    stored[slot] = itemIDs[b]
                    slot = (slot + 1) % capacity
                }
            }
        }
        head = slot
        count = min(capacity, count + itemIDs.count)
    }
}
