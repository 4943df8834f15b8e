/// Expiry queue bucketed by time generation: reclaiming costs in proportion to the references
/// in *expired* generations, never to the live entries.
///
/// An entry (slot) is added to the generation of its last write/touch whenever that
/// generation changes, so it may sit in several generations; a stale reference is resolved when
/// its generation is swept (the owner re-checks the entry's own time and skips it if it was
/// touched since). References to slots that were freed or reused are harmless for the same
/// reason. Not thread-safe: it lives inside a shard's `Mutex`.
struct ExpiryWheel {
    private var generations: [Int64] = []   // increasing
    private var references: [[UInt32]] = []  // references[i] belongs to generations[i]
    private(set) var referenceCount = 0

    /// Records `slot` as written in `generation`.
    ///
    /// - Complexity: amortised O(1) for the newest generation; O(log G) otherwise.
    mutating func add(_ slot: Int, generation: Int64) {
        let ref = UInt32(truncatingIfNeeded: slot)
        referenceCount += 1
        if let last = generations.last, generation <= last {
            if generation == last { references[references.count - 1].append(ref); return }
            // An older generation (a moved slot, or a clock that stepped back): first bucket ≥ it.
            var lo = 0, hi = generations.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if generations[mid] < generation { lo = mid + 1 } else { hi = mid }
            }
            references[lo].append(ref)
        } else {
            generations.append(generation)
            references.append([ref])
        }
    }

    /// Removes and returns the oldest generation's references if that generation is ≤ `limit`.
    ///
    /// - Complexity: O(G) for the front removal (G = live generations, a handful).
    mutating func popGeneration(notAfter limit: Int64) -> [UInt32]? {
        guard let first = generations.first, first <= limit else { return nil }
        generations.removeFirst()
        let refs = references.removeFirst()
        referenceCount -= refs.count
        return refs
    }

    /// Drops the references `keep` rejects and duplicates within a generation.
    ///
    /// - Complexity: O(R log R) for R references; the owner calls it when R has doubled since
    ///   the last compaction, so amortised O(log R) a reference.
    mutating func compact(keep: (UInt32) -> Bool) {
        var i = 0
        while i < generations.count {
            var refs = references[i].filter(keep)
            refs.sort()
            var unique = 0
            for r in refs where unique == 0 || refs[unique - 1] != r {
                refs[unique] = r
                unique += 1
            }
            refs.removeLast(refs.count - unique)
            referenceCount -= references[i].count - refs.count
            if refs.isEmpty {
                generations.remove(at: i)
                references.remove(at: i)
            } else {
                references[i] = refs
                i += 1
            }
        }
    }

    /// Forgets every reference.
    mutating func removeAll() {
        generations.removeAll()
        references.removeAll()
        referenceCount = 0
    }

    /// Heap bytes held (array capacities).
    var bytes: Int {
        generations.capacity * 8 + references.capacity * 8 + references.reduce(0) { $0 + $1.capacity * 4 }
    }
}
