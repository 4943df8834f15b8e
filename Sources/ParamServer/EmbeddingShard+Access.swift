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

    @inline(__always) func markTouched(_ slot: Int, _ ticks: TickContext) {
        guard layout.hasTouch else { return }
        let old = touch(slot)
        guard ticks.now > old else { return }
        setTouch(slot, ticks.now)
        if ticks.now / ticks.generation != old / ticks.generation {
            wheel.add(slot, generation: ticks.generation(of: ticks.now))
        }
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
        if layout.hasTouch {
            setTouch(slot, ticks.now)
            wheel.add(slot, generation: ticks.generation(of: ticks.now))
        }
    }

    /// Pull for the positions `order[0 ..< n]` of a batch (all in this shard).
    ///
    /// Two passes: the first only resolves slots, a short loop of independent index probes the
    /// CPU overlaps (several cache misses in flight); the second copies rows that are now cached.
    ///
    /// - Complexity: O(n · d) plus expected O(1) index probes a key.
    func pull(
        order: UnsafePointer<Int32>, n: Int, keys: UnsafePointer<UInt64>, hashes: UnsafePointer<UInt64>,
        rows: UnsafeMutablePointer<Float>, create: Bool, policy: RowPolicy, ticks: TickContext
    ) {
        let d = policy.dimension
        let bytes = d * 4
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(n, 1)) { slots in
            for i in 0..<n {
                let p = Int(order[i])
                slots[i] = Int32(truncatingIfNeeded: find(keys[p], hash: hashes[p]) ?? -1)
            }
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
                    let slot = appendSlot(key: keys[p], hash: hashes[p])
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
    }

    @inline(__always) private func admit(hash: UInt64, policy: RowPolicy) -> Bool {
        guard policy.admissionThreshold > 1, sketch != nil else { return true }
        if sketch!.sight(hash: hash) >= policy.admissionThreshold { return true }
        statistics.admissionsDeferred += 1
        return false
    }

    /// Push for the positions `order[0 ..< n]` of a batch (all in this shard).
    ///
    /// - Complexity: O(n · d).
    func push(
        order: UnsafePointer<Int32>, n: Int, keys: UnsafePointer<UInt64>, hashes: UnsafePointer<UInt64>,
        gradients: UnsafePointer<Float>, policy: RowPolicy, ticks: TickContext
    ) {
        let d = policy.dimension
        for i in 0..<n {
            let p = Int(order[i])
            guard let slot = find(keys[p], hash: hashes[p]), !isExpired(slot, ticks) else {
                statistics.pushesDropped += 1
                continue
            }
            RowUpdate.apply(policy.optimizer, row: row(slot), gradient: gradients + p &* d, dimension: d)
            markTouched(slot, ticks)
        }
    }

    /// Reclaims the rows of every fully expired generation.
    ///
    /// - Complexity: O(references in expired generations + rows removed), independent of the
    ///   number of live rows.
    func sweep(ticks: TickContext) -> SweepReport {
        var report = SweepReport()
        guard ticks.ttl > 0, ticks.now >= ticks.ttl else { return report }
        // Generation g is fully expired when (g + 1) · G ≤ now − ttl + 1.
        let limit = Int64((ticks.now - ticks.ttl) + 1) / Int64(ticks.generation) - 1
        while let refs = wheel.popGeneration(notAfter: limit) {
            for ref in refs {
                let slot = Int(ref)
                report.entriesVisited += 1
                while slot < count && isExpired(slot, ticks) {
                    let moved = removeSlot(slot, ticks: ticks)
                    report.entriesReclaimed += 1
                    if !moved { break }
                    report.entriesVisited += 1
                }
            }
        }
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
