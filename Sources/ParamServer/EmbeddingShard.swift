/// Byte layout of an embedding slab page (see README "Memory layout").
///
/// A page holds `pageRows` records `[key: UInt64][row: d × Float][optimiser state: s × Float]`
/// (stride `8 + 4(d + s)`, so floats stay 4-byte aligned; the key is read unaligned), then, when
/// the table expires rows, `pageRows` 16-bit touch offsets from the page's base tick.
struct EmbeddingLayout {
    static let pageShift = 6
    static let pageRows = 1 << pageShift
    let dimension: Int
    let stateWidth: Int
    let recordStride: Int
    let hasTouch: Bool

    init(dimension: Int, stateWidth: Int, hasTouch: Bool) {
        self.dimension = dimension
        self.stateWidth = stateWidth
        self.hasTouch = hasTouch
        recordStride = 8 + 4 * (dimension + stateWidth)
    }

    var touchOffset: Int { Self.pageRows * recordStride }
    var pageBytes: Int { touchOffset + (hasTouch ? Self.pageRows * 2 : 0) }
}

/// Time bookkeeping of one call, in ticks of the table's (effective) time resolution.
struct TickContext {
    var now: UInt32
    /// Time to live in ticks; 0 = rows never expire.
    var ttl: UInt32
    /// Age in ticks after which the open page takes no more rows (ttl / 8, at least 1): bounds
    /// how long after expiry a row waits for its page to fall due.
    var closeAge: UInt32

    /// Rows touched at or before this tick are expired (`now − t ≥ ttl`).
    var cutoff: UInt32 { now >= ttl ? now - ttl : 0 }
}

/// Bookkeeping of one slab page, kept apart from the page so the pull path reads it from a
/// small, cache-resident array.
struct PageInfo {
    /// Tick of touch offset 0; ≤ every touch stored in the page (an offset cannot be negative).
    var base: UInt32 = 0
    /// Tick at which the page was opened.
    var opened: UInt32 = 0
    /// Newest tick at which a row was appended (created or re-queued) to the page.
    var lastAppend: UInt32 = 0
    /// Records filled, `0 ... pageRows`.
    var used: Int32 = 0
}

/// One shard of an ``EmbeddingStore``: slab pages of records in a FIFO (the expiry queue) plus
/// the key → slot index.
///
/// A slot is `page id << pageShift | row in page`. Rows are appended to the open ("tail") page;
/// pages are kept in append order in `queue`, and a page is fully due when its newest append is
/// at least a TTL old. ``sweep(ticks:)`` walks due pages from the front: an expired row is
/// dropped from the index, a row touched since its append is copied to the tail (lazy re-check),
/// and the page is freed. So the slab order *is* the expiry queue: no per-row reference.
/// Always accessed under its ``ShardLock``: the `@unchecked Sendable` is that lock's promise.
/// (Region isolation cannot see that raw pointers passed into `withLock` never escape it.)
final class EmbeddingShard: @unchecked Sendable {
    let layout: EmbeddingLayout
    var index = SlotIndex()
    /// Page memory by page id (entries of free ids dangle and are never read).
    var pages: [UnsafeMutableRawPointer] = []
    var info: [PageInfo] = []
    var freeIDs: [Int32] = []
    /// Page ids in append order; `queue[queueHead...]` are the live pages.
    var queue: [Int32] = []
    var queueHead = 0
    /// The page taking appends, or −1.
    var tail: Int = -1
    /// Indexed rows (live, or expired and not yet swept).
    var count = 0
    var sketch: AdmissionSketch?
    var statistics = EmbeddingStoreStatistics()
    /// Sink for the prefetching loads of ``pull``, so the optimiser keeps them.
    var prefetchSink: UInt32 = 0

    init(layout: EmbeddingLayout, sketchWidth: Int?) {
        self.layout = layout
        sketch = sketchWidth.map { AdmissionSketch(width: $0) }
    }

    deinit {
        for i in queueHead..<queue.count { pages[Int(queue[i])].deallocate() }
        index.deallocate()
    }

    var pageCount: Int { queue.count - queueHead }

    @inline(__always) func record(_ slot: Int) -> UnsafeMutableRawPointer {
        pages[slot &>> EmbeddingLayout.pageShift] + (slot & (EmbeddingLayout.pageRows - 1)) &* layout.recordStride
    }

    @inline(__always) func key(_ slot: Int) -> UInt64 {
        record(slot).loadUnaligned(as: UInt64.self)
    }

    /// The `d` row floats followed by the `s` optimiser-state floats.
    @inline(__always) func row(_ slot: Int) -> UnsafeMutablePointer<Float> {
        (record(slot) + 8).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) func touchAddress(_ slot: Int) -> UnsafeMutablePointer<UInt16> {
        (pages[slot &>> EmbeddingLayout.pageShift] + layout.touchOffset).assumingMemoryBound(to: UInt16.self)
            + (slot & (EmbeddingLayout.pageRows - 1))
    }

    /// The row's last touch tick: page base + 16-bit offset.
    @inline(__always) func touch(_ slot: Int) -> UInt32 {
        info[slot &>> EmbeddingLayout.pageShift].base &+ UInt32(touchAddress(slot).pointee)
    }

    /// Stores `tick` as the row's touch.
    ///
    /// An offset beyond 16 bits (the page is ≥ 65 535 − ttl ticks old: no sweep has run for
    /// ~3 TTL) rebases the page to `now − ttl`; offsets of rows touched before that clamp to 0,
    /// which keeps them expired. A tick below the base (a clock stepped back) is stored as the
    /// base: such a row expires at most that step late.
    @inline(__always) func setTouch(_ slot: Int, _ tick: UInt32, ticks: TickContext) {
        let id = slot &>> EmbeddingLayout.pageShift
        var base = info[id].base
        if tick > base && tick - base > 0xFFFF {
            rebase(page: id, to: max(ticks.cutoff, tick - 0xFFFF))
            base = info[id].base
        }
        touchAddress(slot).pointee = tick > base ? UInt16(truncatingIfNeeded: tick - base) : 0
    }

    /// Moves page `id`'s base to `newBase`, re-expressing every row's offset. O(pageRows).
    func rebase(page id: Int, to newBase: UInt32) {
        let base = info[id].base
        let touches = (pages[id] + layout.touchOffset).assumingMemoryBound(to: UInt16.self)
        for r in 0..<Int(info[id].used) {
            let t = base &+ UInt32(touches[r])
            touches[r] = t > newBase ? UInt16(clamping: t - newBase) : 0
        }
        info[id].base = newBase
    }

    @inline(__always) func find(_ key: UInt64, hash: UInt64) -> Int? {
        index.find(key, hash: hash) { self.key($0) }
    }

    /// A free record in the tail page, opening a page when there is none, it is full, or (with
    /// a TTL) it was opened `closeAge` or more before `tick`. The record is counted in the page
    /// but neither indexed nor filled.
    ///
    /// - Complexity: O(1); allocates a page every `pageRows` appends.
    func reserveRecord(at tick: UInt32, ticks: TickContext) -> Int {
        if tail < 0 || info[tail].used == Int32(EmbeddingLayout.pageRows)
            || (layout.hasTouch && tick >= info[tail].opened && tick - info[tail].opened >= ticks.closeAge) {
            openPage(at: tick, ticks: ticks)
        }
        let slot = tail &<< EmbeddingLayout.pageShift | Int(info[tail].used)
        info[tail].used += 1
        info[tail].lastAppend = max(info[tail].lastAppend, tick)
        return slot
    }

    private func openPage(at tick: UInt32, ticks: TickContext) {
        let page = UnsafeMutableRawPointer.allocate(byteCount: layout.pageBytes, alignment: 64)
        page.bindMemory(to: UInt8.self, capacity: layout.pageBytes)
        // Every live row's touch is > tick − ttl, so it fits above this base.
        let fresh = PageInfo(base: tick >= ticks.ttl ? tick - ticks.ttl : 0, opened: tick, lastAppend: tick, used: 0)
        let id: Int
        if let free = freeIDs.popLast() {
            id = Int(free)
            pages[id] = page
            info[id] = fresh
        } else {
            id = pages.count
            precondition(id < (SlotIndex.maxSlot + 1) >> EmbeddingLayout.pageShift, "shard exceeds \(SlotIndex.maxSlot) rows; use more shards")
            pages.append(page)
            info.append(fresh)
        }
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        queue.append(Int32(id))
        tail = id
    }

    /// Frees the front page of the queue (its rows must be unindexed).
    func popFrontPage() {
        let id = Int(queue[queueHead])
        queueHead += 1
        if id == tail { tail = -1 }
        pages[id].deallocate()
        info[id] = PageInfo()
        freeIDs.append(Int32(id))
    }

    /// Appends and indexes a record for `key` (absent), touched at `tick`; the row and state
    /// are uninitialised.
    ///
    /// - Complexity: amortised O(1); an index growth rehashes by walking the pages in order.
    func appendSlot(key: UInt64, hash: UInt64, at tick: UInt32, ticks: TickContext) -> Int {
        if index.isFull { rebuildIndex(capacity: index.rebuildCapacity) }
        let slot = reserveRecord(at: tick, ticks: ticks)
        record(slot).storeBytes(of: key, toByteOffset: 0, as: UInt64.self)
        if layout.hasTouch { setTouch(slot, tick, ticks: ticks) }
        index.insert(key, hash: hash, slot: slot) { self.key($0) }
        count += 1
        return slot
    }

    /// Calls `body` with every indexed slot, page by page in queue order (memory order within
    /// a page). Not during a sweep, whose current page is half-processed.
    func forEachSlot(_ body: (Int) -> Void) {
        for q in queueHead..<queue.count {
            let id = Int(queue[q])
            for r in 0..<Int(info[id].used) { body(id &<< EmbeddingLayout.pageShift | r) }
        }
    }

    /// Rehashes into `capacity` buckets, reading keys page by page (sequentially).
    func rebuildIndex(capacity: Int) {
        index.rebuild(capacity: capacity, keyAt: { self.key($0) }) { put in forEachSlot(put) }
    }

    /// Drops every row (keeps the index capacity).
    func removeAll() {
        while queueHead < queue.count { popFrontPage() }
        queue.removeAll()
        queueHead = 0
        count = 0
        index.removeAll()
    }

    /// Heap bytes held by this shard: the row floats and optimiser-state floats of indexed rows,
    /// and everything else (keys, touch offsets, empty records of partly filled pages, page
    /// tables, index, admission sketch).
    var overheadAndRowBytes: (rows: Int, state: Int, other: Int) {
        let rowBytes = count * layout.dimension * 4
        let stateBytes = count * layout.stateWidth * 4
        let heap = pageCount * layout.pageBytes + pages.capacity * 8 + info.capacity * MemoryLayout<PageInfo>.stride
            + freeIDs.capacity * 4 + queue.capacity * 4 + index.bytes + (sketch?.bytes ?? 0)
        return (rowBytes, stateBytes, heap - rowBytes - stateBytes)
    }
}
