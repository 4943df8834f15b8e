/// Frequency admission: a conservative-update count-min sketch of 8-bit counters (Cormode &
/// Muthukrishnan 2005; conservative update, Estan & Varghese 2002).
///
/// Fixed memory whatever the number of keys seen; a key may be admitted early through
/// collisions (never late). Counts never decay. Not thread-safe: lives inside a shard's `Mutex`.
struct AdmissionSketch {
    static let depth = 4
    private var counters: [UInt8]
    private let mask: Int

    /// - Parameter width: counters per row, a power of two.
    init(width: Int) {
        precondition(width > 0 && width & (width - 1) == 0, "sketch width \(width) must be a power of two")
        counters = Array(repeating: 0, count: width * Self.depth)
        mask = width - 1
    }

    var bytes: Int { counters.count }

    /// Counts one sighting of the key with `hash`; returns the (over-)estimated sightings so far.
    ///
    /// - Complexity: O(depth).
    mutating func sight(hash: UInt64) -> Int {
        var idx = (0, 0, 0, 0)
        var h = hash
        h = mixKey(h); idx.0 = Int(truncatingIfNeeded: h) & mask
        h = mixKey(h); idx.1 = (mask + 1) + Int(truncatingIfNeeded: h) & mask
        h = mixKey(h); idx.2 = 2 * (mask + 1) + Int(truncatingIfNeeded: h) & mask
        h = mixKey(h); idx.3 = 3 * (mask + 1) + Int(truncatingIfNeeded: h) & mask
        let m = min(min(counters[idx.0], counters[idx.1]), min(counters[idx.2], counters[idx.3]))
        guard m < 255 else { return 255 }
        if counters[idx.0] == m { counters[idx.0] = m + 1 }
        if counters[idx.1] == m { counters[idx.1] = m + 1 }
        if counters[idx.2] == m { counters[idx.2] = m + 1 }
        if counters[idx.3] == m { counters[idx.3] = m + 1 }
        return Int(m) + 1
    }
}
