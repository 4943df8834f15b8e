/// Open-addressing hash index from a 64-bit key to a slot number (the key's row in a slab).
///
/// Each bucket is one `UInt32`: `fingerprint << 28 | distance << 24 | (slot + 1)`, 0 meaning
/// empty. `distance` is how far the bucket lies past the key's home bucket, saturated at 15;
/// `fingerprint` is 4 bits of the hash the home position does not use. The keys themselves live
/// in the slab, next to the rows, so the index costs 4 bytes a bucket.
///
/// - A probe reads the slab only where both the distance (the entry's home is the probed key's
///   home) and the fingerprint match: about α/16 + (saturated buckets)/16 false reads a lookup.
/// - Deletion is linear probing's backward shift (no tombstones). Because the distance is in the
///   bucket, deciding whether a follower may move back reads no key (only saturated followers,
///   ≥ 15 from home, read their key): a removal costs the index cache lines of one cluster,
///   not one random slab read per follower. This keeps `sweep` time from growing with the
///   table once the slab is out of cache.
///
/// Home bucket by Lemire's multiply-shift range reduction so the capacity need not be a power of
/// two, growth ×1.5 at load 0.85: the load factor stays in [0.57, 0.85], i.e. 4.7–7.1 bytes a key.
///
/// Not thread-safe: it lives inside a shard's `Mutex`. The owner calls ``deallocate()``.
struct SlotIndex {
    static let maxSlot = 0xFF_FFFE
    static let saturatedDistance = 15
    private(set) var buckets: UnsafeMutablePointer<UInt32>?
    private(set) var capacity = 0
    private(set) var count = 0

    var bytes: Int { capacity * 4 }

    func deallocate() { buckets?.deallocate() }

    @inline(__always) private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash >> 32) &* UInt64(capacity)) >> 32)
    }

    @inline(__always) private static func fingerprint(_ hash: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: hash & 0xF) << 28
    }

    @inline(__always) private static func tag(distance: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: min(distance, saturatedDistance)) << 24
    }

    /// The slot of `key`, or nil.
    ///
    /// - Complexity: expected O(1): ≈ 1/(1−α) bucket reads (≤ 7 at α = 0.85), one slab read
    ///   per tag (distance + fingerprint) match.
    @inline(__always)
    func find(_ key: UInt64, hash: UInt64, keyAt: (Int) -> UInt64) -> Int? {
        guard let b = buckets else { return nil }
        let fp = Self.fingerprint(hash)
        var i = home(hash)
        var distance = 0
        while true {
            let v = b[i]
            if v == 0 { return nil }
            if v & 0xFF00_0000 == fp | Self.tag(distance: distance) {
                let slot = Int(v & 0xFF_FFFF) - 1
                if keyAt(slot) == key { return slot }
            }
            i += 1
            if i == capacity { i = 0 }
            distance += 1
        }
    }

    /// Inserts `key → slot`; the key must be absent.
    ///
    /// - Complexity: amortised O(1); a growth rehashes every key (reading keys via `keyAt`).
    mutating func insert(_ key: UInt64, hash: UInt64, slot: Int, keyAt: (Int) -> UInt64) {
        precondition(slot >= 0 && slot <= Self.maxSlot, "slot \(slot) exceeds the index limit \(Self.maxSlot) per shard; use more shards")
        if (count + 1) * 20 > capacity * 17 { grow(keyAt: keyAt) }
        place(UInt32(truncatingIfNeeded: slot + 1) | Self.fingerprint(hash), home: home(hash))
        count += 1
    }

    /// Stores `value` (fingerprint and slot; distance bits clear) in the first empty bucket from `start`.
    @inline(__always) private func place(_ value: UInt32, home start: Int) {
        var i = start, distance = 0
        while buckets![i] != 0 {
            i += 1
            if i == capacity { i = 0 }
            distance += 1
        }
        buckets![i] = value | Self.tag(distance: distance)
    }

    private mutating func grow(keyAt: (Int) -> UInt64) {
        let old = buckets, oldCapacity = capacity
        capacity = max(16, oldCapacity + oldCapacity / 2 + 1)
        buckets = .allocate(capacity: capacity)
        buckets!.initialize(repeating: 0, count: capacity)
        guard let old else { return }
        for i in 0..<oldCapacity where old[i] != 0 {
            let slot = Int(old[i] & 0xFF_FFFF) - 1
            place(old[i] & 0xF0FF_FFFF, home: home(mixKey(keyAt(slot))))
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
    /// - Complexity: O(cluster length) bucket reads; reads a follower's key via `keyAt` only
    ///   when its stored distance is saturated (≥ 15 from home).
    mutating func remove(slot: Int, hash: UInt64, keyAt: (Int) -> UInt64) {
        let b = buckets!
        var hole = bucket(of: slot, hash: hash)
        var j = hole
        while true {
            j += 1
            if j == capacity { j = 0 }
            let v = b[j]
            if v == 0 { break }
            var distance = Int((v >> 24) & 0xF)
            if distance == Self.saturatedDistance {
                let h = home(mixKey(keyAt(Int(v & 0xFF_FFFF) - 1)))
                distance = j >= h ? j - h : j + capacity - h
            }
            // v may fill the hole unless its home lies cyclically in (hole, j], i.e. unless it
            // is closer to home than the hole is.
            let gap = j >= hole ? j - hole : j + capacity - hole
            if distance >= gap {
                b[hole] = (v & 0xF0FF_FFFF) | Self.tag(distance: distance - gap)
                hole = j
            }
        }
        b[hole] = 0
        count -= 1
    }

    /// Empties the index, keeping its capacity.
    mutating func removeAll() {
        if let b = buckets { b.update(repeating: 0, count: capacity) }
        count = 0
    }

    /// Buckets whose stored distance is saturated (tests only).
    var saturatedBuckets: Int {
        guard let b = buckets else { return 0 }
        return (0..<capacity).reduce(0) { $0 + (b[$1] != 0 && (b[$1] >> 24) & 0xF == 0xF ? 1 : 0) }
    }

    /// Checks every bucket's stored distance and fingerprint against its key (tests only).
    ///
    /// - Complexity: O(capacity) with one `keyAt` per entry.
    func isConsistent(keyAt: (Int) -> UInt64) -> Bool {
        guard let b = buckets else { return count == 0 }
        var entries = 0
        for i in 0..<capacity where b[i] != 0 {
            entries += 1
            let hash = mixKey(keyAt(Int(b[i] & 0xFF_FFFF) - 1))
            let h = home(hash)
            let distance = i >= h ? i - h : i + capacity - h
            guard b[i] & 0xFF00_0000 == Self.fingerprint(hash) | Self.tag(distance: distance) else { return false }
            // Linear probing: every bucket between home and here is occupied.
            var k = h
            while k != i {
                if b[k] == 0 { return false }
                k += 1
                if k == capacity { k = 0 }
            }
        }
        return entries == count
    }
}
