/// Byte layout of an embedding slab page (see README "Memory layout").
///
/// A page holds `pageRows` records `[key: UInt64][row: d × Float][optimiser state: s × Float]`
/// (padded to 8 bytes), then, when the table expires rows, `pageRows` touch ticks (`UInt32`).
struct EmbeddingLayout {
    static let pageShift = 8
    static let pageRows = 1 << pageShift
    let dimension: Int
    let stateWidth: Int
    let recordStride: Int
    let hasTouch: Bool

    init(dimension: Int, stateWidth: Int, hasTouch: Bool) {
        self.dimension = dimension
        self.stateWidth = stateWidth
        self.hasTouch = hasTouch
        recordStride = (8 + 4 * (dimension + stateWidth) + 7) & ~7
    }

    var touchOffset: Int { Self.pageRows * recordStride }
    var pageBytes: Int { touchOffset + (hasTouch ? Self.pageRows * 4 : 0) }
}

/// Time bookkeeping of one call, in ticks of the table's time resolution.
struct TickContext {
    var now: UInt32
    /// Time to live in ticks; 0 = rows never expire.
    var ttl: UInt32
    /// Ticks per expiry generation (ttl / 8, at least 1).
    var generation: UInt32

    @inline(__always) func generation(of tick: UInt32) -> Int64 { Int64(tick / generation) }
}

/// One shard of an ``EmbeddingStore``: a dense slab of records plus the key → slot index.
///
/// Rows occupy slots `0 ..< count` (removal moves the last record into the hole), so iteration
/// and snapshots walk contiguous memory and pages are never half-empty except the last.
/// Always accessed under its ``ShardLock``: the `@unchecked Sendable` is that lock's promise.
/// (Region isolation cannot see that raw pointers passed into `withLock` never escape it.)
final class EmbeddingShard: @unchecked Sendable {
    let layout: EmbeddingLayout
    var index = SlotIndex()
    var pages: [UnsafeMutableRawPointer] = []
    var count = 0
    var wheel = ExpiryWheel()
    var sketch: AdmissionSketch?
    var statistics = EmbeddingStoreStatistics()

    init(layout: EmbeddingLayout, sketchWidth: Int?) {
        self.layout = layout
        sketch = sketchWidth.map { AdmissionSketch(width: $0) }
    }

    deinit {
        for page in pages { page.deallocate() }
        index.deallocate()
    }

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

    @inline(__always) private func touchAddress(_ slot: Int) -> UnsafeMutableRawPointer {
        pages[slot &>> EmbeddingLayout.pageShift] + layout.touchOffset + (slot & (EmbeddingLayout.pageRows - 1)) &* 4
    }

    @inline(__always) func touch(_ slot: Int) -> UInt32 {
        touchAddress(slot).loadUnaligned(as: UInt32.self)
    }

    @inline(__always) func setTouch(_ slot: Int, _ tick: UInt32) {
        touchAddress(slot).storeBytes(of: tick, as: UInt32.self)
    }

    @inline(__always) func find(_ key: UInt64, hash: UInt64) -> Int? {
        index.find(key, hash: hash) { self.key($0) }
    }

    /// Appends a record for `key` (absent) and indexes it; the row and state are uninitialised.
    ///
    /// - Complexity: amortised O(1); allocates a page every `pageRows` rows.
    func appendSlot(key: UInt64, hash: UInt64) -> Int {
        let slot = count
        if slot &>> EmbeddingLayout.pageShift == pages.count {
            let page = UnsafeMutableRawPointer.allocate(byteCount: layout.pageBytes, alignment: 64)
            page.bindMemory(to: Float.self, capacity: layout.pageBytes / 4)
            pages.append(page)
        }
        count += 1
        record(slot).storeBytes(of: key, as: UInt64.self)
        index.insert(key, hash: hash, slot: slot) { self.key($0) }
        return slot
    }

    /// Removes the row in `slot`, moving the last row into it.
    ///
    /// - Returns: whether a row was moved into `slot` (the caller re-examines it).
    /// - Complexity: O(1) plus the index's backward shift; frees the last page when two pages
    ///   of slack accumulate.
    @discardableResult
    func removeSlot(_ slot: Int, ticks: TickContext) -> Bool {
        index.remove(slot: slot, hash: mixKey(key(slot))) { self.key($0) }
        let last = count - 1
        let moved = slot != last
        if moved {
            record(slot).copyMemory(from: record(last), byteCount: layout.recordStride)
            index.move(hash: mixKey(key(slot)), from: last, to: slot)
            if layout.hasTouch {
                let t = touch(last)
                setTouch(slot, t)
                wheel.add(slot, generation: ticks.generation(of: t))
            }
        }
        count = last
        if pages.count >= 2 && count <= (pages.count - 2) * EmbeddingLayout.pageRows {
            pages.removeLast().deallocate()
        }
        return moved
    }

    /// Drops every row (keeps the index capacity).
    func removeAll() {
        for page in pages { page.deallocate() }
        pages.removeAll()
        count = 0
        index.removeAll()
        wheel.removeAll()
    }

    /// Heap bytes held by this shard, excluding optimiser state.
    var overheadAndRowBytes: (rows: Int, state: Int, other: Int) {
        let pageBytes = pages.count * layout.pageBytes
        let stateBytes = pages.count * EmbeddingLayout.pageRows * layout.stateWidth * 4
        let rowBytes = count * layout.dimension * 4
        let other = pageBytes - stateBytes - rowBytes + index.bytes + wheel.bytes + (sketch?.bytes ?? 0)
        return (rowBytes, stateBytes, other)
    }
}
