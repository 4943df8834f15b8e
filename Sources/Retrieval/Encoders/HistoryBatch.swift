/// A batch of users' recent item histories, padded to a common length, oldest item first.
///
/// ```
/// ids      (B, L)  row-major; ids[b·L + t] is user b's t-th most recent-but-(n_b − 1 − t) item
/// lengths  (B)     n_b ∈ 0 ... L; positions t ≥ n_b are padding (never read by an encoder)
/// ```
/// A history longer than `L` keeps its last `L` items (the most recent ones).
public struct HistoryBatch: Sendable, Equatable {
    /// `(B, L)` item indices (catalogue rows), row-major; padding positions hold 0.
    public private(set) var ids: [Int32] = []
    /// `(B)` history lengths `n_b ≤ L`.
    public private(set) var lengths: [Int32] = []
    /// `L`, the longest history kept.
    public let maxLength: Int

    /// An empty batch whose histories keep at most `maxLength` items.
    public init(maxLength: Int) {
        precondition(maxLength >= 1, "HistoryBatch: maxLength = \(maxLength)")
        self.maxLength = maxLength
    }

    /// `B`, the number of histories.
    public var count: Int { lengths.count }

    /// Empties the batch, keeping its capacity.
    public mutating func removeAll() {
        ids.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
    }

    /// Appends one history (oldest first); only its last `L` items are kept.
    public mutating func append<C: Collection>(_ history: C) where C.Element == Int32 {
        let kept = history.suffix(maxLength)
        ids.append(contentsOf: kept)
        ids.append(contentsOf: repeatElement(0, count: maxLength - kept.count))
        lengths.append(Int32(kept.count))
    }

    /// The kept items of history `b`, oldest first.
    public func history(_ b: Int) -> ArraySlice<Int32> {
        ids[b * maxLength ..< b * maxLength + Int(lengths[b])]
    }
}
