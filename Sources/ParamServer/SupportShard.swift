/// Byte layout of one task block that holds up to `rows` rows in a ring (see README "Memory
/// layout"); each column group is contiguous, so a window is at most two `memcpy`s (or two
/// widening loops at bfloat16).
///
/// `features (rows × featureRowBytes) | labels (rows × L Float) | eventTime (rows Int64) |
///  writeTime (rows Int64) | version (rows UInt64)`, padded to 16 bytes; `featureRowBytes` is
/// `4W` at float32 and `2(W − X) + 4X` at bfloat16 (``SupportLayout/featureRowBytes``).
struct BlockLayout {
    let rows: Int
    let labelsOffset: Int, eventOffset: Int, writeOffset: Int, versionOffset: Int
    /// Bytes requested from the allocator.
    let bytes: Int

    init(rows: Int, featureRowBytes: Int, labelWidth: Int) {
        self.rows = rows
        labelsOffset = (rows * featureRowBytes + 7) & ~7
        eventOffset = (labelsOffset + rows * labelWidth * 4 + 7) & ~7
        writeOffset = eventOffset + rows * 8
        versionOffset = writeOffset + rows * 8
        bytes = (versionOffset + rows * 8 + 15) & ~15
    }
}

/// The block size classes of a store and what a task costs in each.
///
/// A task's block holds 1, 2, 4, … rows, the last class `S_max` (which need not be a power of
/// two); it moves to the next class when its ring is full and grows, so a task holding `n`
/// rows reserves fewer than `2n` (and at most `S_max`).
struct SupportLayout {
    let rowWidth: Int, labelWidth: Int, capacity: Int
    /// How the `W − X` numeric columns of a row are kept; the `X` trailing bit-pattern columns
    /// (``SupportStoreConfig/bitPatternColumns``) are always 32 bits.
    let precision: SupportPrecision
    let bitPatternColumns: Int
    /// Bytes of one row's `W` values in a block: `4W` (float32) or `2(W − X) + 4X` (bfloat16).
    let featureRowBytes: Int
    /// `classes[c].rows = min(2^c, S_max)`; the last is the full block.
    let classes: [BlockLayout]
    /// Bytes charged per task besides its block: its `SupportEntry` and ≈ 5 bytes of index
    /// (a 4-byte bucket at load ≥ 0.8).
    static let entryBytes = MemoryLayout<SupportEntry>.stride + 5

    init(rowWidth: Int, labelWidth: Int, capacity: Int, precision: SupportPrecision = .float32, bitPatternColumns: Int = 0) {
        self.rowWidth = rowWidth
        self.labelWidth = labelWidth
        self.capacity = capacity
        self.precision = precision
        self.bitPatternColumns = bitPatternColumns
        featureRowBytes = precision.bytesPerValue * (rowWidth - bitPatternColumns) + 4 * bitPatternColumns
        var classes: [BlockLayout] = []
        var rows = 1
        while true {
            classes.append(BlockLayout(rows: min(rows, capacity), featureRowBytes: featureRowBytes, labelWidth: labelWidth))
            if rows >= capacity { break }
            rows *= 2
        }
        self.classes = classes
    }

    /// Bytes of a full (`S_max`-row) block.
    var blockBytes: Int { classes[classes.count - 1].bytes }

    /// The smallest class holding `rows` rows.
    func sizeClass(rows: Int) -> Int {
        var c = 0
        while classes[c].rows < rows { c += 1 }
        return c
    }

    /// Bytes a task in class `c` is charged: its block as allocated plus ``entryBytes``.
    func taskBytes(sizeClass c: Int) -> Int {
        Self.allocatedBytes(classes[c].bytes) + Self.entryBytes
    }

    /// Heap bytes the allocator uses for a request of `n` bytes: glibc's chunk (an 8-byte
    /// header, 16-byte granules, 32 bytes at least); pages for requests it maps (≥ 128 KiB).
    /// An estimate on other allocators (Darwin's tiny and small zones also use 16-byte granules).
    static func allocatedBytes(_ n: Int) -> Int {
        n >= 128 << 10 ? (n + 16 + 4095) & ~4095 : max(32, (n + 8 + 15) & ~15)
    }
}

/// Per-task bookkeeping; `prev`/`next` link the shard's LRU list (prev = more recent).
struct SupportEntry {
    var key: UInt64 = 0
    /// The task's block (`nil`: a free entry).
    var block: UnsafeMutableRawPointer?
    var lastUse: Int64 = 0
    var head: Int32 = 0   // ring slot of the oldest stored row
    var count: Int32 = 0
    var prev: Int32 = -1
    var next: Int32 = -1
    /// Index into ``SupportLayout/classes``: the block holds `classes[sizeClass].rows` rows.
    var sizeClass: UInt8 = 0

    var live: Bool { block != nil }
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

/// One shard of a ``SupportStore``: task entries (indexed by key; each owns a block of its size
/// class from the system allocator), a free list of entries, an LRU list and an expiry queue.
/// Always accessed under its ``ShardLock`` (the `@unchecked Sendable` is that lock's promise).
final class SupportShard: @unchecked Sendable {
    let layout: SupportLayout
    var index = SlotIndex()
    var entries: [SupportEntry] = []
    var freeList: [Int32] = []
    var lruHead: Int32 = -1
    var lruTail: Int32 = -1
    var wheel = ExpiryWheel()
    /// The wheel is compacted (references to free entries dropped) when it holds more.
    var wheelCompactionThreshold = 4096
    var liveEntries = 0
    var storedRows = 0
    /// Bytes charged to the live tasks: the sum of ``SupportLayout/taskBytes(sizeClass:)``.
    var taskBytes = 0
    /// The model version the last sweep purged for.
    var sweptVersion: UInt64
    var statistics = SupportStoreStatistics()

    init(layout: SupportLayout, version: UInt64) {
        self.layout = layout
        sweptVersion = version
    }

    deinit {
        for entry in entries { entry.block?.deallocate() }
        index.deallocate()
    }

    @inline(__always) func blockLayout(_ e: Int) -> BlockLayout {
        layout.classes[Int(entries[e].sizeClass)]
    }

    /// Rows the task's block holds (its ring's size).
    @inline(__always) func ringSize(_ e: Int) -> Int { blockLayout(e).rows }

    @inline(__always) func block(_ e: Int) -> UnsafeMutableRawPointer { entries[e].block.unsafelyUnwrapped }

    /// Task `e`'s feature rows: `featureRowBytes` a slot (``SupportLayout/storeRow(_:to:)``).
    @inline(__always) func features(_ e: Int) -> UnsafeMutableRawPointer { block(e) }

    @inline(__always) func labels(_ e: Int) -> UnsafeMutablePointer<Float> {
        (block(e) + blockLayout(e).labelsOffset).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) func eventTime(_ e: Int, _ slot: Int) -> Int64 {
        block(e).loadUnaligned(fromByteOffset: blockLayout(e).eventOffset + slot * 8, as: Int64.self)
    }

    @inline(__always) func writeTime(_ e: Int, _ slot: Int) -> Int64 {
        block(e).loadUnaligned(fromByteOffset: blockLayout(e).writeOffset + slot * 8, as: Int64.self)
    }

    @inline(__always) func version(_ e: Int, _ slot: Int) -> UInt64 {
        block(e).loadUnaligned(fromByteOffset: blockLayout(e).versionOffset + slot * 8, as: UInt64.self)
    }

    @inline(__always) func find(_ key: UInt64, hash: UInt64) -> Int? {
        index.find(key, hash: hash) { self.entries[$0].key }
    }

    static func allocateBlock(_ b: BlockLayout) -> UnsafeMutableRawPointer {
        let block = UnsafeMutableRawPointer.allocate(byteCount: b.bytes, alignment: 16)
        block.bindMemory(to: Float.self, capacity: b.bytes / 4)
        return block
    }

    /// A free entry for `key` with an empty block of `sizeClass`, indexed and placed at the LRU
    /// front.
    func allocateEntry(key: UInt64, hash: UInt64, now: Int64, sizeClass: Int = 0) -> Int {
        let e: Int
        if let free = freeList.popLast() {
            e = Int(free)
        } else {
            e = entries.count
            entries.append(SupportEntry())
        }
        entries[e] = SupportEntry(key: key, block: Self.allocateBlock(layout.classes[sizeClass]), lastUse: now,
                                  sizeClass: UInt8(sizeClass))
        index.insert(key, hash: hash, slot: e) { self.entries[$0].key }
        pushFront(e)
        liveEntries += 1
        taskBytes += layout.taskBytes(sizeClass: sizeClass)
        return e
    }

    /// Removes a task entirely and frees its block; returns the rows it held.
    @discardableResult
    func removeEntry(_ e: Int) -> Int {
        let rows = Int(entries[e].count)
        index.remove(slot: e, hash: mixKey(entries[e].key))
        unlink(e)
        taskBytes -= layout.taskBytes(sizeClass: Int(entries[e].sizeClass))
        entries[e].block?.deallocate()
        entries[e].block = nil
        entries[e].count = 0
        freeList.append(Int32(e))
        liveEntries -= 1
        storedRows -= rows
        return rows
    }

    /// Moves task `e`'s rows into a new block of class `c` (which must hold them), oldest at
    /// slot 0, and frees the old block.
    ///
    /// - Complexity: O(count · (W + L)), one allocation and one free.
    func resize(_ e: Int, toClass c: Int) {
        let from = blockLayout(e), to = layout.classes[c]
        let n = Int(entries[e].count), head = Int(entries[e].head)
        precondition(n <= to.rows, "task has \(n) rows; size class \(c) holds \(to.rows)")
        let old = block(e), new = Self.allocateBlock(to)
        let first = min(n, from.rows - head), second = n - first
        func column(_ source: Int, _ target: Int, _ stride: Int) {
            (new + target).copyMemory(from: old + source + head * stride, byteCount: first * stride)
            (new + target + first * stride).copyMemory(from: old + source, byteCount: second * stride)
        }
        column(0, 0, layout.featureRowBytes)
        column(from.labelsOffset, to.labelsOffset, layout.labelWidth * 4)
        column(from.eventOffset, to.eventOffset, 8)
        column(from.writeOffset, to.writeOffset, 8)
        column(from.versionOffset, to.versionOffset, 8)
        old.deallocate()
        taskBytes += layout.taskBytes(sizeClass: c) - layout.taskBytes(sizeClass: Int(entries[e].sizeClass))
        entries[e].block = new
        entries[e].head = 0
        entries[e].sizeClass = UInt8(c)
    }

    /// Queues `e` in `generation` of the expiry wheel; compacts the wheel when it holds more
    /// than twice the references it kept at the last compaction (amortised O(1) a reference),
    /// so references to evicted tasks do not pile up until their generation expires.
    func enqueueExpiry(_ e: Int, generation: Int64) {
        wheel.add(e, generation: generation)
        if wheel.referenceCount > wheelCompactionThreshold {
            wheel.compact { self.entries[Int($0)].live }
            wheelCompactionThreshold = max(4096, 2 * wheel.referenceCount)
        }
    }

    /// Rows of the newest suffix that may be served: current version, and within the time to
    /// live unless among the newest `keepFloor`.
    ///
    /// - Complexity: O(S).
    func servedCount(_ e: Int, now: Int64, version current: UInt64, policy: SupportPolicy) -> Int {
        let entry = entries[e], bl = blockLayout(e)
        let s = bl.rows
        let b = block(e)
        let versions = b + bl.versionOffset, writes = b + bl.writeOffset
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
            entries[e].head = Int32((Int(entries[e].head) + drop) % ringSize(e))
            entries[e].count = Int32(served)
            storedRows -= drop
            // Shrink a block left at most a quarter full (a quarter, not a half, so that a task
            // hovering at a class boundary does not move on every sweep).
            let c = layout.sizeClass(rows: served)
            if c < Int(entries[e].sizeClass) && served * 4 <= ringSize(e) { resize(e, toClass: c) }
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

    /// Last use of the least recently used task, `Int64.max` when the shard is empty.
    var tailUse: Int64 { lruTail >= 0 ? entries[Int(lruTail)].lastUse : .max }

    func markUsed(_ e: Int, now: Int64) {
        entries[e].lastUse = max(entries[e].lastUse, now)
        if lruHead != Int32(e) {
            unlink(e)
            pushFront(e)
        }
    }

    /// Drops every task.
    func removeAll() {
        for entry in entries { entry.block?.deallocate() }
        taskBytes = 0
        index.removeAll()
        entries.removeAll()
        freeList.removeAll()
        lruHead = -1
        lruTail = -1
        wheel.removeAll()
        liveEntries = 0
        storedRows = 0
    }

    /// Heap bytes held by this shard: task blocks (as allocated), entry table, free list, index
    /// and expiry queue.
    var bytes: Int {
        taskBytes - liveEntries * SupportLayout.entryBytes + entries.capacity * MemoryLayout<SupportEntry>.stride
            + freeList.capacity * 4 + index.bytes + wheel.bytes
    }
}
