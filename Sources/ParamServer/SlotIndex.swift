/// Open-addressing hash index from a 64-bit key to a slot number (the key's row in a slab).
///
/// Each bucket is one `UInt32`: `fingerprint << 24 | (slot + 1)`, 0 meaning empty. The keys
/// themselves live in the slab, next to the rows, so the index costs 4 bytes a bucket; the
/// 8-bit fingerprint (from bits the home position does not use) lets a probe skip most
/// mismatching buckets without touching the slab.
///
/// Linear probing with backward-shift deletion (no tombstones), home bucket by Lemire's
/// multiply-shift range reduction so the capacity need not be a power of two, growth ×1.5 at
/// load 0.85: the load factor stays in [0.57, 0.85], i.e. 4.7–7.1 bytes a key.
///
/// Not thread-safe: it lives inside a shard's `Mutex`. The owner calls ``deallocate()``.
struct SlotIndex {
    static let maxSlot = 0xFF_FFFE
    private(set) var buckets: UnsafeMutablePointer<UInt32>?
    private(set) var capacity = 0
    private(set) var count = 0

    var bytes: Int { capacity * 4 }

    func deallocate() { buckets?.deallocate() }

    @inline(__always) private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash >> 32) &* UInt64(capacity)) >> 32)
    }

    @inline(__always) private static func fingerprint(_ hash: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: hash & 0xFF)
    }

    /// The slot of `key`, or nil.
    ///
    /// - Complexity: expected O(1): ≈ 1/(1−α) bucket reads (≤ 7 at α = 0.85), one slab read
    ///   per fingerprint match.
    @inline(__always)
    func find(_ key: UInt64, hash: UInt64, keyAt: (Int) -> UInt64) -> Int? {
        guard let b = buckets else { return nil }
        let fp = Self.fingerprint(hash)
        var i = home(hash)
        while true {
            let v = b[i]
            if v == 0 { return nil }
            if v >> 24 == fp {
                let slot = Int(v & 0xFF_FFFF) - 1
                if keyAt(slot) == key { return slot }
            }
            i += 1
            if i == capacity { i = 0 }
        }
    }

    /// Inserts `key → slot`; the key must be absent.
    ///
    /// - Complexity: amortised O(1); a growth rehashes every key (reading keys via `keyAt`).
    mutating func insert(_ key: UInt64, hash: UInt64, slot: Int, keyAt: (Int) -> UInt64) {
        precondition(slot >= 0 && slot <= Self.maxSlot, "slot \(slot) exceeds the index limit \(Self.maxSlot) per shard; use more shards")
        if (count + 1) * 20 > capacity * 17 { grow(keyAt: keyAt) }
        place(UInt32(truncatingIfNeeded: slot + 1) | Self.fingerprint(hash) << 24, home: home(hash))
        count += 1
    }

    @inline(__always) private func place(_ value: UInt32, home start: Int) {
        var i = start
        while buckets![i] != 0 {
            i += 1
            if i == capacity { i = 0 }
        }
        buckets![i] = value
    }

    private mutating func grow(keyAt: (Int) -> UInt64) {
        let old = buckets, oldCapacity = capacity
        capacity = max(16, oldCapacity + oldCapacity / 2 + 1)
        buckets = .allocate(capacity: capacity)
        buckets!.initialize(repeating: 0, count: capacity)
        guard let old else { return }
        for i in 0..<oldCapacity where old[i] != 0 {
            let slot = Int(old[i] & 0xFF_FFFF) - 1
            place(old[i], home: home(mixKey(keyAt(slot))))
        }
        old.deallocate()
    }

    /// Index of the bucket that points at `slot` (which must be present under `hash`).
    private func bucket(of slot: Int, hash: UInt64) -> Int {
        let target = UInt32(truncatingIfNeeded: slot + 1)
        var i = home(hash)
        while buckets![i] & 0xFF_FFFF != target {
            precondition(buckets![i] != 0, "slot \(slot) is not in the index")
            i += 1
            if i == capacity { i = 0 }
        }
        return i
    }

    /// Repoints the key stored at `from` (hashing to `hash`) to `to`, after a slab move.
    mutating func move(hash: UInt64, from: Int, to: Int) {
        let i = bucket(of: from, hash: hash)
        buckets![i] = (buckets![i] & 0xFF00_0000) | UInt32(truncatingIfNeeded: to + 1)
    }

    /// Removes the entry for `slot` (whose key hashes to `hash`), shifting followers back.
    ///
    /// - Complexity: O(cluster length); reads the keys of shifted followers via `keyAt`.
    mutating func remove(slot: Int, hash: UInt64, keyAt: (Int) -> UInt64) {
        var hole = bucket(of: slot, hash: hash)
        var j = hole
        while true {
            j += 1
            if j == capacity { j = 0 }
            let v = buckets![j]
            if v == 0 { break }
            let h = home(mixKey(keyAt(Int(v & 0xFF_FFFF) - 1)))
            // v may fill the hole unless its home lies cyclically in (hole, j].
            let inRange = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !inRange {
                buckets![hole] = v
                hole = j
            }
        }
        buckets![hole] = 0
        count -= 1
    }

    /// Empties the index, keeping its capacity.
    mutating func removeAll() {
        if let b = buckets { b.update(repeating: 0, count: capacity) }
        count = 0
    }
}
