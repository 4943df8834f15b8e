/// Byte layout of one task's block (see README "Memory layout"): rows are stored in a ring of
/// `S_max` slots, each column group contiguous so a window is at most two `memcpy`s.
///
/// `features (S_max × W Float) | labels (S_max × L Float) | eventTime (S_max Int64) |
///  writeTime (S_max Int64) | version (S_max UInt64)`, padded to 64 bytes.
struct SupportLayout {
    let rowWidth: Int, labelWidth: Int, capacity: Int
    let labelsOffset: Int, eventOffset: Int, writeOffset: Int, versionOffset: Int
    let blockBytes: Int
    /// Blocks per slab page: a power of two (`1 << pageShift`), so locating a block is a shift.
    let pageShift: Int
    var blocksPerPage: Int { 1 << pageShift }

    init(rowWidth: Int, labelWidth: Int, capacity: Int) {
        self.rowWidth = rowWidth
        self.labelWidth = labelWidth
        self.capacity = capacity
        labelsOffset = (capacity * rowWidth * 4 + 7) & ~7
        eventOffset = (labelsOffset + capacity * labelWidth * 4 + 7) & ~7
        writeOffset = eventOffset + capacity * 8
        versionOffset = writeOffset + capacity * 8
        blockBytes = (versionOffset + capacity * 8 + 63) & ~63
        var shift = 0
        while (2 << shift) * blockBytes <= 1 << 18 { shift += 1 }
        pageShift = shift
    }
}

/// Per-task bookkeeping; `prev`/`next` link the shard's LRU list (prev = more recent).
struct SupportEntry {
    var key: UInt64 = 0
    var head: Int32 = 0   // ring slot of the oldest stored row
    var count: Int32 = 0
    var lastUse: Int64 = 0
    var prev: Int32 = -1
    var next: Int32 = -1
    var live = false
}

/// Time and version rules of one call.
struct SupportPolicy {
    /// Time to live in ns; 0 = none.
    var ttl: Int64
    var keepFloor: Int
    /// Expiry-queue generation length in ns (ttl / 8, at least 1).
    var generation: Int64

    @inline(__always) func generation(of t: Int64) -> Int64 {
        t >= 0 ? t / generation : (t - generation + 1) / generation
    }

    @inline(__always) func isExpired(written: Int64, now: Int64) -> Bool {
        guard ttl > 0, now >= written else { return false }
        let (age, overflow) = now.subtractingReportingOverflow(written)
        return overflow || age >= ttl
    }
}

/// One shard of a ``SupportStore``: task entries whose index is also their block number in a
/// slab of pages, a free list, an LRU list and an expiry queue. Always accessed under its
/// ``ShardLock`` (the `@unchecked Sendable` is that lock's promise).
final class SupportShard: @unchecked Sendable {
    let layout: SupportLayout
    var index = SlotIndex()
    var entries: [SupportEntry] = []
    var freeList: [Int32] = []
    var pages: [UnsafeMutableRawPointer] = []
    var lruHead: Int32 = -1
    var lruTail: Int32 = -1
    var wheel = ExpiryWheel()
    var liveEntries = 0
    var storedRows = 0
    /// The model version the last sweep purged for.
    var sweptVersion: UInt64
    var statistics = SupportStoreStatistics()

    init(layout: SupportLayout, version: UInt64) {
        self.layout = layout
        sweptVersion = version
    }

    deinit {
        for page in pages { page.deallocate() }
        index.deallocate()
    }

    @inline(__always) func block(_ e: Int) -> UnsafeMutableRawPointer {
        pages[e &>> layout.pageShift] + (e & (layout.blocksPerPage - 1)) &* layout.blockBytes
    }

    @inline(__always) func features(_ e: Int) -> UnsafeMutablePointer<Float> {
        block(e).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) func labels(_ e: Int) -> UnsafeMutablePointer<Float> {
        (block(e) + layout.labelsOffset).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) func eventTime(_ e: Int, _ slot: Int) -> Int64 {
        block(e).loadUnaligned(fromByteOffset: layout.eventOffset + slot * 8, as: Int64.self)
    }

    @inline(__always) func writeTime(_ e: Int, _ slot: Int) -> Int64 {
        block(e).loadUnaligned(fromByteOffset: layout.writeOffset + slot * 8, as: Int64.self)
    }

    @inline(__always) func version(_ e: Int, _ slot: Int) -> UInt64 {
        block(e).loadUnaligned(fromByteOffset: layout.versionOffset + slot * 8, as: UInt64.self)
    }

    @inline(__always) func find(_ key: UInt64, hash: UInt64) -> Int? {
        index.find(key, hash: hash) { self.entries[$0].key }
    }

    /// A free entry (and block) for `key`, indexed and placed at the LRU front.
    func allocateEntry(key: UInt64, hash: UInt64, now: Int64) -> Int {
        let e: Int
        if let free = freeList.popLast() {
            e = Int(free)
        } else {
            e = entries.count
            entries.append(SupportEntry())
            if e &>> layout.pageShift == pages.count {
                let bytes = layout.blocksPerPage * layout.blockBytes
                let page = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                page.bindMemory(to: Float.self, capacity: bytes / 4)
                pages.append(page)
            }
        }
        entries[e] = SupportEntry(key: key, head: 0, count: 0, lastUse: now, prev: -1, next: -1, live: true)
        index.insert(key, hash: hash, slot: e) { self.entries[$0].key }
        pushFront(e)
        liveEntries += 1
        return e
    }

    /// Removes a task entirely; returns the rows it held.
    @discardableResult
    func removeEntry(_ e: Int) -> Int {
        let rows = Int(entries[e].count)
        index.remove(slot: e, hash: mixKey(entries[e].key))
        unlink(e)
        entries[e].live = false
        entries[e].count = 0
        freeList.append(Int32(e))
        liveEntries -= 1
        storedRows -= rows
        return rows
    }

    /// Rows of the newest suffix that may be served: current version, and within the time to
    /// live unless among the newest `keepFloor`.
    ///
    /// - Complexity: O(S).
    func servedCount(_ e: Int, now: Int64, version current: UInt64, policy: SupportPolicy) -> Int {
        let entry = entries[e]
        let s = layout.capacity
        let b = block(e)
        let versions = b + layout.versionOffset, writes = b + layout.writeOffset
        var k = 0
        var slot = (Int(entry.head) + Int(entry.count) - 1) % s
        while k < Int(entry.count) {
            if versions.loadUnaligned(fromByteOffset: slot &* 8, as: UInt64.self) != current { break }
            if k >= policy.keepFloor && policy.ttl > 0
                && policy.isExpired(written: writes.loadUnaligned(fromByteOffset: slot &* 8, as: Int64.self), now: now) { break }
            k += 1
            slot = slot == 0 ? s - 1 : slot - 1
        }
        return k
    }

    /// Drops the rows of `e` that can never be served again; removes the task if none is left.
    ///
    /// - Returns: rows dropped and whether the task was removed.
    func trim(_ e: Int, now: Int64, version: UInt64, policy: SupportPolicy) -> (rows: Int, removed: Bool) {
        let served = servedCount(e, now: now, version: version, policy: policy)
        if served == 0 { return (removeEntry(e), true) }
        let drop = Int(entries[e].count) - served
        if drop > 0 {
            entries[e].head = Int32((Int(entries[e].head) + drop) % layout.capacity)
            entries[e].count = Int32(served)
            storedRows -= drop
        }
        return (drop, false)
    }

    // MARK: LRU list

    func unlink(_ e: Int) {
        let p = entries[e].prev, n = entries[e].next
        if p >= 0 { entries[Int(p)].next = n } else { lruHead = n }
        if n >= 0 { entries[Int(n)].prev = p } else { lruTail = p }
        entries[e].prev = -1
        entries[e].next = -1
    }

    func pushFront(_ e: Int) {
        entries[e].prev = -1
        entries[e].next = lruHead
        if lruHead >= 0 { entries[Int(lruHead)].prev = Int32(e) }
        lruHead = Int32(e)
        if lruTail < 0 { lruTail = Int32(e) }
    }

    func markUsed(_ e: Int, now: Int64) {
        entries[e].lastUse = max(entries[e].lastUse, now)
        if lruHead != Int32(e) {
            unlink(e)
            pushFront(e)
        }
    }

    /// Drops every task.
    func removeAll() {
        index.removeAll()
        entries.removeAll()
        freeList.removeAll()
        lruHead = -1
        lruTail = -1
        wheel.removeAll()
        liveEntries = 0
        storedRows = 0
    }

    /// Heap bytes held by this shard (slab pages, entry table, index, queue).
    var bytes: Int {
        pages.count * layout.blocksPerPage * layout.blockBytes + entries.capacity * MemoryLayout<SupportEntry>.stride
            + freeList.capacity * 4 + index.bytes + wheel.bytes
    }
}
