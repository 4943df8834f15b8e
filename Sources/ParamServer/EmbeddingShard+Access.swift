import CPrefetch
/// What a shard needs to know about the table's policies, resolved once at construction.
struct RowPolicy {
    let dimension: Int
    let initializer: RowInitializer
    let admissionThreshold: Int
    let optimizer: RowOptimizer
}

extension EmbeddingShard {
    @inline(__always) func isExpired(_ slot: Int, _ ticks: TickContext) -> Bool {
        guard ticks.ttl > 0 else { return false }
        let t = touch(slot)
        return ticks.now >= t && ticks.now - t >= ticks.ttl
    }

    /// Records a read or write of a live row. No queue work: the sweep re-checks the row when
    /// its page falls due (lazy re-check), so a touch is one 16-bit store at most once a tick.
    @inline(__always) func markTouched(_ slot: Int, _ ticks: TickContext) {
        guard layout.hasTouch, ticks.now > touch(slot) else { return }
        setTouch(slot, ticks.now, ticks: ticks)
    }

    /// Fills a fresh row and its optimiser state, and stamps it as touched now.
    func initialize(_ slot: Int, key: UInt64, policy: RowPolicy, ticks: TickContext) {
        let d = policy.dimension
        let w = row(slot)
        switch policy.initializer {
        case .zeros:
            w.update(repeating: 0, count: d)
        case let .uniform(bound, seed):
            let base = mixKey(key ^ mixKey(seed))
            for j in 0..<d {
                let u = Float(mixKey(base &+ UInt64(j)) >> 40) * (1.0 / 16_777_216.0)
                w[j] = bound * (2 * u - 1)
            }
        }
        let state = w + d
        switch policy.optimizer {
        case .sgd: break
        case let .adagrad(_, a0, _): state.update(repeating: a0, count: d)
        case .adam:
            state.update(repeating: 0, count: 2 * d)
            state[2 * d] = 1
            state[2 * d + 1] = 1
        }
        if layout.hasTouch { setTouch(slot, ticks.now, ticks: ticks) }
    }

    /// Resolves the slots of `order[0 ..< n]` into `slots` (−1 = absent) before any row is
    /// read, in three passes over the batch so the cache misses of different keys overlap:
    ///
    /// 1. load each key's home bucket line (and the next, see ``SlotIndex/peek(_:)``): plain
    ///    independent loads, nothing to mispredict;
    /// 2. find each key's first tag match in the (now cached) index, no slab reads;
    /// 3. read the candidate's key from the slab (independent loads, a predictable branch),
    ///    falling back to a full `find` on a mismatch or no candidate.
    ///
    /// With the probe and the slab read in one loop (as `find` does), each key's mispredicted
    /// probe exit discards the loads already issued for the keys after it, so their misses are
    /// served one at a time; split into passes they overlap (measured in the README, "Why the
    /// pull got slower at load 0.8–0.9").
    @inline(__always)
    private func resolve(order: UnsafePointer<Int32>, n: Int, keys: UnsafePointer<UInt64>, hashes: UnsafePointer<UInt64>,
                         into slots: UnsafeMutablePointer<Int32>) {
        var sink: UInt32 = 0
        for i in 0..<n { sink &+= index.peek(hashes[Int(order[i])]) }
        prefetchSink &+= sink
        for i in 0..<n {
            slots[i] = Int32(truncatingIfNeeded: index.candidate(hash: hashes[Int(order[i])]))
        }
        for i in 0..<n {
            let p = Int(order[i])
            let c = Int(slots[i])
            if c >= 0 && key(c) == keys[p] { continue }
            slots[i] = Int32(truncatingIfNeeded: find(keys[p], hash: hashes[p]) ?? -1)
        }
    }

    /// Pull for the positions `order[0 ..< n]` of a batch (all in this shard); `slots` is
    /// scratch for `n` entries.
    ///
    /// - Complexity: O(n · d) plus expected O(1) index probes a key. Allocates nothing (but a
    ///   page or an index growth when rows are created).
    func pull(
        order: UnsafePointer<Int32>, n: Int, keys: UnsafePointer<UInt64>, hashes: UnsafePointer<UInt64>,
        slots: UnsafeMutablePointer<Int32>, rows: UnsafeMutablePointer<Float>, create: Bool, policy: RowPolicy, ticks: TickContext
    ) {
        let d = policy.dimension
        let bytes = d * 4
        resolve(order: order, n: n, keys: keys, hashes: hashes, into: slots)
        for i in 0..<n {
            let p = Int(order[i])
            let out = rows + p &* d
            let found = Int(slots[i])
            if found >= 0 {
                if isExpired(found, ticks) {
                    statistics.expiredReads += 1
                    guard create else { out.update(repeating: 0, count: d); continue }
                    initialize(found, key: keys[p], policy: policy, ticks: ticks)
                    statistics.rowsCreated += 1
                } else {
                    markTouched(found, ticks)
                }
                UnsafeMutableRawPointer(out).copyMemory(from: row(found), byteCount: bytes)
            } else if create, find(keys[p], hash: hashes[p]) == nil, admit(hash: hashes[p], policy: policy) {
                // Re-checked: a duplicate key earlier in this batch may have just created it.
                let slot = appendSlot(key: keys[p], hash: hashes[p], at: ticks.now, ticks: ticks)
                initialize(slot, key: keys[p], policy: policy, ticks: ticks)
                statistics.rowsCreated += 1
                UnsafeMutableRawPointer(out).copyMemory(from: row(slot), byteCount: bytes)
            } else if create, let slot = find(keys[p], hash: hashes[p]) {
                UnsafeMutableRawPointer(out).copyMemory(from: row(slot), byteCount: bytes)
            } else {
                out.update(repeating: 0, count: d)
            }
        }
    }

    @inline(__always) private func admit(hash: UInt64, policy: RowPolicy) -> Bool {
        guard policy.admissionThreshold > 1, sketch != nil else { return true }
        if sketch!.sight(hash: hash) >= policy.admissionThreshold { return true }
        statistics.admissionsDeferred += 1
        return false
    }

    /// Push for the positions `order[0 ..< n]` of a batch (all in this shard); `slots` is
    /// scratch for `n` entries.
    ///
    /// - Complexity: O(n · d). Allocates nothing.
    func push(
        order: UnsafePointer<Int32>, n: Int, keys: UnsafePointer<UInt64>, hashes: UnsafePointer<UInt64>,
        slots: UnsafeMutablePointer<Int32>, gradients: UnsafePointer<Float>, policy: RowPolicy, ticks: TickContext
    ) {
        let d = policy.dimension
        resolve(order: order, n: n, keys: keys, hashes: hashes, into: slots)
        for i in 0..<n {
            let p = Int(order[i])
            let slot = Int(slots[i])
            guard slot >= 0, !isExpired(slot, ticks) else {
                statistics.pushesDropped += 1
                continue
            }
            RowUpdate.apply(policy.optimizer, row: row(slot), gradient: gradients + p &* d, dimension: d)
            markTouched(slot, ticks)
        }
    }

    /// Reclaims the rows of every due page: a page whose newest append is at least a TTL old.
    ///
    /// Every row of a due page was appended at or before `cutoff = now − ttl`, so it is either
    /// expired (touch ≤ cutoff: dropped from the index) or was touched since its append (copied
    /// to the tail page and re-indexed: the lazy re-check); then the page is freed. Pages are in
    /// append order, so the walk stops at the first page not due.
    ///
    /// ```
    /// visited = expired rows in due pages + rows re-queued
    /// re-queues ≤ one per live row per TTL (a re-queued row's page falls due a TTL later)
    /// ```
    /// A row never re-queued is reclaimed at most `closeAge` (ttl / 8) after it expires, a
    /// re-queued one at most ttl + closeAge after (plus the sweep period); neither is served.
    ///
    /// - Complexity: O(visited) — independent of live rows not yet due. Rows are read in memory
    ///   order; each removal costs one index probe and one bucket write (no shifting, see
    ///   ``SlotIndex``), whose lines are prefetched a page ahead.
    func sweep(ticks: TickContext) -> SweepReport {
        var report = SweepReport()
        guard ticks.ttl > 0, ticks.now >= ticks.ttl else { return report }
        let cutoff = ticks.cutoff
        // Two pipelines of prefetches while row r of this page is processed: the index lines of
        // row r of the next due page (whose key was prefetched a page ago), and the record of
        // row r two pages on. So ≈ 64 misses of each kind are in flight, not one at a time.
        func duePage(at position: Int) -> (first: Int, used: Int) {
            guard position < queue.count, info[Int(queue[position])].lastAppend <= cutoff else { return (0, 0) }
            let id = Int(queue[position])
            return (id &<< EmbeddingLayout.pageShift, Int(info[id].used))
        }
        let start = duePage(at: queueHead), second = duePage(at: queueHead + 1)
        for r in 0..<second.used { mr_prefetch_for_read(record(second.first | r)) }
        for r in 0..<start.used { index.prefetchForRemoval(mixKey(key(start.first | r))) }
        while queueHead < queue.count {
            let id = Int(queue[queueHead])
            guard info[id].lastAppend <= cutoff else { break }
            if id == tail { tail = -1 }   // re-queued rows must go to another page
            let next = duePage(at: queueHead + 1), afterNext = duePage(at: queueHead + 2)
            if afterNext.used > 0 {   // its touch offsets: 64 × UInt16, two cache lines
                mr_prefetch_for_read(touchAddress(afterNext.first))
                mr_prefetch_for_read(touchAddress(afterNext.first | 32))
            }
            let first = id &<< EmbeddingLayout.pageShift, used = Int(info[id].used)
            // Past a partial page's rows the loop only prefetches for the pages ahead.
            for r in 0..<max(used, next.used, afterNext.used) {
                if r < next.used { index.prefetchForRemoval(mixKey(key(next.first | r))) }
                if r < afterNext.used { mr_prefetch_for_read(record(afterNext.first | r)) }
                guard r < used else { continue }
                let slot = first | r
                let hash = mixKey(key(slot))
                report.entriesVisited += 1
                if isExpired(slot, ticks) {
                    index.remove(slot: slot, hash: hash)
                    count -= 1
                    report.entriesReclaimed += 1
                } else {
                    let touched = touch(slot)
                    let to = reserveRecord(at: ticks.now, ticks: ticks)
                    record(to).copyMemory(from: record(slot), byteCount: layout.recordStride)
                    setTouch(to, touched, ticks: ticks)
                    index.move(hash: hash, from: slot, to: to)
                    statistics.rowsRequeued += 1
                }
            }
            popFrontPage()
        }
        // After mass expiry, give the index back its memory (load < 0.4 → 0.8); the rebuild's
        // O(rows) is paid for by the ≥ half of the entries removed since the last resize.
        if index.capacity > 64 && count * 10 < index.capacity * 4 { rebuildIndex(capacity: count * 10 / 8 + 1) }
        statistics.rowsReclaimed += report.entriesReclaimed
        return report
    }
}

/// The per-row optimiser step (see ``RowOptimizer`` for the math).
enum RowUpdate {
    /// Updates `row[0 ..< d]` and its state `row[d ...]` in place with `gradient[0 ..< d]`.
    ///
    /// - Complexity: O(d).
    @inline(__always)
    static func apply(_ optimizer: RowOptimizer, row w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, dimension d: Int) {
        switch optimizer {
        case let .sgd(lr):
            for j in 0..<d { w[j] -= lr * g[j] }
        case let .adagrad(lr, _, eps):
            let a = w + d
            for j in 0..<d {
                a[j] += g[j] * g[j]
                w[j] -= lr * g[j] / (a[j].squareRoot() + eps)
            }
        case let .adam(lr, b1, b2, eps):
            let m = w + d, v = w + 2 * d, powers = w + 3 * d
            powers[0] *= b1
            powers[1] *= b2
            let c1 = 1 / (1 - powers[0]), c2 = 1 / (1 - powers[1])
            for j in 0..<d {
                m[j] = b1 * m[j] + (1 - b1) * g[j]
                v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                w[j] -= lr * (m[j] * c1) / ((v[j] * c2).squareRoot() + eps)
            }
        }
    }
}
