import CPrefetch

/// Open-addressing hash index from a 64-bit key to a slot number (the key's row in a slab).
///
/// Linear probing with Robin Hood ordering (Celis 1986): an insert displaces any entry that
/// lies closer to its home than the inserted key would, so along a probe sequence the entries'
/// distances from home never fall by more than one per step. A lookup therefore stops at the
/// first bucket whose entry is closer to home than the probe, which keeps misses as short as hits
/// at high load (at load 0.9: mean distance ≈ 4.3, P(distance ≥ 31) ≈ 5·10⁻⁴).
///
/// Each bucket is one `UInt32`: `fingerprint << 29 | distance << 24 | (slot + 1)`, 0 meaning
/// empty. `distance` is how far the bucket lies past the key's home bucket, saturated at 31;
/// `fingerprint` is 3 bits of the hash the home position does not use. The keys themselves live
/// in the slab, next to the rows, so the index costs 4 bytes a bucket.
///
/// - A probe reads the slab only where distance and fingerprint both match, i.e. for keys with
///   the same home: about α/8 false reads a lookup.
/// - Deletion writes one bucket and reads no key, so an expiry sweep costs the same per removed
///   key whatever the load: the bucket is emptied when nothing after it depends on it (the next
///   bucket is empty or holds an entry at its home), otherwise it becomes a *tombstone* —
///   slot field 0, distance kept — which probes pass like the entry it replaced (so the Robin
///   Hood stop rule still holds) and which an insert takes over when the tombstone lies no
///   farther from its home than the inserted key would (see ``place(_:home:keyAt:)``).
///   The backward shift it replaces moved many followers per removal at high load, so a sweep
///   got slower the more live keys the index held (README, "Sweep").
/// - Tombstones count towards the load. An insert that finds the load at 0.9 rebuilds: at the
///   same capacity when tombstones are ≥ 1/16 of the buckets (each purge is paid for by the
///   ≥ capacity/16 removals that made them: O(16) a removal), otherwise grown ×1.125.
///
/// Home bucket by Lemire's multiply-shift range reduction so the capacity need not be a power of
/// two. Growth ×1.125 at load 0.9, so the load factor stays in [0.8, 0.9] while growing, i.e.
/// 4.4–5.0 bytes a key; ``rebuild(capacity:keyAt:forEachSlot:)`` lets the owner shrink after
/// mass removal and rehash by walking its slab in memory order instead of bucket order.
///
/// Not thread-safe: it lives inside a shard's `Mutex`. The owner calls ``deallocate()``.
struct SlotIndex {
    static let maxSlot = 0xFF_FFFE
    static let saturatedDistance = 31
    static let maximumLoad = 0.9
    private static let distanceMask: UInt32 = 0x1F00_0000
    private static let slotMask: UInt32 = 0xFF_FFFF
    /// Top bits of a tombstone (fingerprint 1, never 0 so that a tombstone at distance 0 is not
    /// an empty bucket); its slot field is 0 and its distance bits are the removed entry's.
    private static let tombstoneFingerprint: UInt32 = 0x2000_0000
    private(set) var buckets: UnsafeMutablePointer<UInt32>?
    private(set) var capacity = 0
    /// Keys indexed.
    private(set) var count = 0
    /// Buckets holding a tombstone (a removed key whose bucket others' probes still pass).
    private(set) var tombstones = 0

    var bytes: Int { capacity * 4 }

    func deallocate() { buckets?.deallocate() }

    @inline(__always) private func home(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash >> 32) &* UInt64(capacity)) >> 32)
    }

    @inline(__always) private static func fingerprint(_ hash: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: hash & 0x7) << 29
    }

    @inline(__always) private static func tag(distance: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: min(distance, saturatedDistance)) << 24
    }

    @inline(__always) private static func storedDistance(_ v: UInt32) -> Int {
        Int((v >> 24) & 0x1F)
    }

    /// A bucket holding an entry or a tombstone: its slot field is 0 exactly for a tombstone.
    @inline(__always) private static func isTombstone(_ v: UInt32) -> Bool {
        v != 0 && v & slotMask == 0
    }

    /// Whether the next insert must rebuild first (entries plus tombstones would exceed
    /// ``maximumLoad``).
    var isFull: Bool { (count + tombstones + 1) * 10 > capacity * 9 }

    /// The capacity the rebuild before the next insert allocates: the same when tombstones are at
    /// least 1/16 of the buckets (purging them makes the room), otherwise ×1.125.
    var rebuildCapacity: Int {
        tombstones * 16 >= capacity && capacity >= 16 ? capacity : max(16, capacity + capacity / 8 + 1)
    }

    /// Loads the key's home bucket and the bucket 7 past it, and returns their sum (callers
    /// sum these into a sink).
    ///
    /// Used as a software prefetch: a pass of independent `peek`s over a batch puts several
    /// cache misses in flight at once, so the dependent probes of the next pass hit cache. The
    /// second load covers the next cache line when the probe run (≈ 5 buckets at α = 0.9)
    /// crosses into it, which it does for about a third of the homes; the home bucket alone
    /// does not help (README, "Why the pull got slower at load 0.8–0.9").
    @inline(__always)
    func peek(_ hash: UInt64) -> UInt32 {
        guard let b = buckets else { return 0 }
        let h = home(hash)
        return b[h] &+ b[min(h + 7, capacity - 1)]
    }

    /// Starts loading, for writing, the key's home bucket and the bucket 7 past it (see
    /// ``peek(_:)``), without waiting for them: a sweep prefetches a page of removals ahead.
    @inline(__always)
    func prefetchForRemoval(_ hash: UInt64) {
        guard let b = buckets else { return }
        let h = home(hash)
        mr_prefetch_for_write(b + h)
        mr_prefetch_for_write(b + min(h + 7, capacity - 1))
    }

    /// The slot of the first entry whose tag (distance and fingerprint) matches `hash` before
    /// the probe may stop, or −1: the index-only half of ``find(_:hash:keyAt:)``.
    ///
    /// The slot holds the key unless another key with the same home and fingerprint precedes
    /// it (≈ α/16 of lookups); the caller confirms by reading the key and falls back to `find`
    /// otherwise (also for −1, which may be a miss or a run past the saturated distance).
    /// Splitting a batch into a pass of these and a pass of key reads keeps the probe loop's
    /// mispredicted exits from serialising the slab reads.
    @inline(__always)
    func candidate(hash: UInt64) -> Int {
        guard let b = buckets else { return -1 }
        // Top byte of a bucket: fingerprint << 5 | distance; expected at distance k: fp << 5 | k.
        var expected = UInt32(truncatingIfNeeded: hash & 0x7) << 5
        var i = home(hash)
        var distance: UInt32 = 0
        while distance < UInt32(Self.saturatedDistance) {
            let v = b[i]
            let top = v >> 24
            if top == expected { return Int(v & Self.slotMask) - 1 }   // −1 for a tombstone
            if v == 0 || top & 0x1F < distance { return -1 }   // empty, or Robin Hood stop
            i += 1
            if i == capacity { i = 0 }
            distance += 1
            expected += 1
        }
        return -1
    }

    /// The slot of `key`, or nil.
    ///
    /// - Complexity: expected O(1): ≈ 1 + mean distance bucket reads (≈ 5 at α = 0.9, mostly one
    ///   cache line), one slab read per tag (distance + fingerprint) match.
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
                let slot = Int(v & Self.slotMask) - 1
                if slot >= 0 && keyAt(slot) == key { return slot }   // slot −1: a tombstone
            } else if Self.storedDistance(v) < min(distance, Self.saturatedDistance) {
                return nil   // Robin Hood: `key` would have displaced this closer-to-home entry.
            }
            i += 1
            if i == capacity { i = 0 }
            distance += 1
        }
    }

    /// Inserts `key → slot`; the key must be absent.
    ///
    /// - Complexity: amortised O(1); a rebuild rehashes every key (reading keys via `keyAt` in
    ///   bucket order; owners with a slab call ``rebuild(capacity:keyAt:forEachSlot:)`` first).
    mutating func insert(_ key: UInt64, hash: UInt64, slot: Int, keyAt: (Int) -> UInt64) {
        precondition(slot >= 0 && slot <= Self.maxSlot, "slot \(slot) exceeds the index limit \(Self.maxSlot) per shard; use more shards")
        if isFull {
            let old = buckets, oldCapacity = capacity
            rebuild(capacity: rebuildCapacity, keyAt: keyAt) { put in
                guard let old else { return }
                for i in 0..<oldCapacity where old[i] & Self.slotMask != 0 { put(Int(old[i] & Self.slotMask) - 1) }
            }
        }
        place(UInt32(truncatingIfNeeded: slot + 1) | Self.fingerprint(hash), home: home(hash), keyAt: keyAt)
        count += 1
    }

    /// Robin Hood placement of `value` (fingerprint and slot; distance bits clear) from `start`.
    ///
    /// A tombstone at distance t is taken by an entry at distance d ≥ t (saturated: both ≥ 31).
    /// Then the next bucket's distance is ≤ t + 1 ≤ d + 1 and every bucket passed holds ≥ its
    /// probe distance, so the invariant holds; a tombstone farther from its home than d is
    /// passed like a richer resident. (With saturated distances the stop rule is off, so taking
    /// a saturated tombstone needs no exact distance.)
    @inline(__always)
    private mutating func place(_ value: UInt32, home start: Int, keyAt: (Int) -> UInt64) {
        let b = buckets!
        var entry = value, i = start, distance = 0
        while true {
            let v = b[i]
            if v == 0 { b[i] = entry | Self.tag(distance: distance); return }
            if Self.isTombstone(v) {
                if Self.storedDistance(v) <= min(distance, Self.saturatedDistance) {
                    b[i] = entry | Self.tag(distance: distance)
                    tombstones -= 1
                    return
                }
                i += 1
                if i == capacity { i = 0 }
                distance += 1
                continue
            }
            var resident = Self.storedDistance(v)
            // A saturated resident's exact distance matters only against a probe beyond 31.
            if resident == Self.saturatedDistance && distance > resident { resident = exactDistance(v, at: i, keyAt: keyAt) }
            if resident < distance {
                b[i] = entry | Self.tag(distance: distance)
                entry = v & ~(Self.distanceMask)
                distance = resident
            }
            i += 1
            if i == capacity { i = 0 }
            distance += 1
        }
    }

    /// The distance of bucket `i`'s entry from its home, reading its key.
    private func exactDistance(_ v: UInt32, at i: Int, keyAt: (Int) -> UInt64) -> Int {
        let h = home(mixKey(keyAt(Int(v & Self.slotMask) - 1)))
        return i >= h ? i - h : i + capacity - h
    }

    /// Re-inserts every entry into `newCapacity` buckets (≥ count / 0.9).
    ///
    /// `forEachSlot(put)` must call `put` once for each slot present; the owner picks the order
    /// (a slab walk reads keys sequentially, bucket order would read them at random).
    ///
    /// - Complexity: O(count + newCapacity).
    mutating func rebuild(capacity newCapacity: Int, keyAt: (Int) -> UInt64, forEachSlot: ((Int) -> Void) -> Void) {
        precondition(newCapacity * 9 >= count * 10, "capacity \(newCapacity) is too small for \(count) keys")
        let old = buckets
        capacity = max(16, newCapacity)
        tombstones = 0
        buckets = .allocate(capacity: capacity)
        buckets!.initialize(repeating: 0, count: capacity)
        withoutActuallyEscaping(keyAt) { keyAt in
            forEachSlot { slot in
                let hash = mixKey(keyAt(slot))
                place(UInt32(truncatingIfNeeded: slot + 1) | Self.fingerprint(hash), home: home(hash), keyAt: keyAt)
            }
        }
        old?.deallocate()
    }

    /// Index of the bucket that points at `slot` (which must be present under `hash`).
    private func bucket(of slot: Int, hash: UInt64) -> Int {
        let target = UInt32(truncatingIfNeeded: slot + 1)
        var i = home(hash)
        while buckets![i] & Self.slotMask != target {
            precondition(buckets![i] != 0, "slot \(slot) is not in the index")
            i += 1
            if i == capacity { i = 0 }
        }
        return i
    }

    /// Repoints the key stored at `from` (hashing to `hash`) to `to`, after a slab move.
    mutating func move(hash: UInt64, from: Int, to: Int) {
        precondition(to >= 0 && to <= Self.maxSlot, "slot \(to) exceeds the index limit \(Self.maxSlot) per shard; use more shards")
        let i = bucket(of: from, hash: hash)
        buckets![i] = (buckets![i] & 0xFF00_0000) | UInt32(truncatingIfNeeded: to + 1)
    }

    /// Removes the entry for `slot` (whose key hashes to `hash`).
    ///
    /// The bucket is emptied when the next one is empty or holds an entry at its home (no probe
    /// runs through it), and so are the tombstones right before it; otherwise it becomes a
    /// tombstone with the entry's distance.
    ///
    /// - Complexity: O(1 + distance) bucket reads, one or a few writes; reads no key.
    mutating func remove(slot: Int, hash: UInt64) {
        let b = buckets!
        var i = bucket(of: slot, hash: hash)
        let next = i + 1 == capacity ? 0 : i + 1
        if b[next] == 0 || Self.storedDistance(b[next]) == 0 {
            b[i] = 0
            while true {
                i = i == 0 ? capacity - 1 : i - 1
                guard Self.isTombstone(b[i]) else { break }
                b[i] = 0
                tombstones -= 1
            }
        } else {
            b[i] = Self.tombstoneFingerprint | (b[i] & Self.distanceMask)
            tombstones += 1
        }
        count -= 1
    }

    /// Empties the index, keeping its capacity.
    mutating func removeAll() {
        if let b = buckets { b.update(repeating: 0, count: capacity) }
        count = 0
        tombstones = 0
    }

    /// Entries (not tombstones) whose stored distance is saturated (tests only).
    var saturatedBuckets: Int {
        guard let b = buckets else { return 0 }
        return (0..<capacity).reduce(0) {
            $0 + (b[$1] & Self.slotMask != 0 && Self.storedDistance(b[$1]) == Self.saturatedDistance ? 1 : 0)
        }
    }

    /// Checks every bucket's stored distance and fingerprint against its key, the Robin Hood
    /// invariant (a bucket's distance exceeds its predecessor's by at most one, a tombstone
    /// counting with its stored distance, unless both are saturated), and the entry and
    /// tombstone counts (tests only).
    ///
    /// - Complexity: O(capacity) with one `keyAt` per entry.
    func isConsistent(keyAt: (Int) -> UInt64) -> Bool {
        guard let b = buckets else { return count == 0 && tombstones == 0 }
        func distance(at i: Int) -> Int {   // exact for entries, stored for tombstones
            Self.isTombstone(b[i]) ? Self.storedDistance(b[i]) : exactDistance(b[i], at: i, keyAt: keyAt)
        }
        var entries = 0, graves = 0
        for i in 0..<capacity where b[i] != 0 {
            if Self.isTombstone(b[i]) {
                graves += 1
                guard b[i] & ~Self.distanceMask == Self.tombstoneFingerprint else { return false }
            } else {
                entries += 1
                let hash = mixKey(keyAt(Int(b[i] & Self.slotMask) - 1))
                guard b[i] & 0xFF00_0000 == Self.fingerprint(hash) | Self.tag(distance: distance(at: i)) else { return false }
            }
            let d = distance(at: i)
            if d > 0 {
                let p = i == 0 ? capacity - 1 : i - 1
                guard b[p] != 0 else { return false }
                let previous = distance(at: p)
                guard d <= previous + 1 || min(d, previous + 1) >= Self.saturatedDistance else { return false }
            }
        }
        return entries == count && graves == tombstones
    }

}
