extension SupportShard {
    /// Appends one row to task `key`'s ring, overwriting its oldest row when full.
    ///
    /// - Returns: `(rows added, tasks added)` for the store's global counters.
    /// - Complexity: O(W + L) plus an expected O(1) index probe; when the task's ring is full
    ///   and smaller than `S_max`, O(rows · (W + L)) and one allocation to move to the next
    ///   size class (amortised O(W + L) a row: classes double).
    func append(
        key: UInt64, hash: UInt64, features source: UnsafePointer<Float>, labels labelSource: UnsafePointer<Float>?,
        eventTime: Int64, now: Int64, version: UInt64, policy: SupportPolicy
    ) -> (rows: Int, tasks: Int) {
        var tasks = 0
        let e: Int
        if let found = find(key, hash: hash) {
            e = found
        } else {
            e = allocateEntry(key: key, hash: hash, now: now)
            tasks = 1
        }
        // A full ring grows into the next size class (one allocation); a full block overwrites.
        if Int(entries[e].count) == ringSize(e) && ringSize(e) < layout.capacity {
            resize(e, toClass: Int(entries[e].sizeClass) + 1)
        }
        let bl = blockLayout(e), s = bl.rows, l = layout.labelWidth
        let entry = entries[e]
        let previousWrite: Int64? = entry.count > 0 ? writeTime(e, (Int(entry.head) + Int(entry.count) - 1) % s) : nil
        let slot: Int
        var rows = 0
        if Int(entry.count) < s {
            slot = (Int(entry.head) + Int(entry.count)) % s
            entries[e].count += 1
            storedRows += 1
            rows = 1
        } else {
            slot = Int(entry.head)
            entries[e].head = Int32((slot + 1) % s)
        }
        let b = block(e)
        layout.storeRow(source, to: b + slot * layout.featureRowBytes)
        if l > 0, let labelSource { ((b + bl.labelsOffset).assumingMemoryBound(to: Float.self) + slot * l).update(from: labelSource, count: l) }
        b.storeBytes(of: eventTime, toByteOffset: bl.eventOffset + slot * 8, as: Int64.self)
        b.storeBytes(of: now, toByteOffset: bl.writeOffset + slot * 8, as: Int64.self)
        b.storeBytes(of: version, toByteOffset: bl.versionOffset + slot * 8, as: UInt64.self)
        markUsed(e, now: now)
        if policy.ttl > 0 && (previousWrite.map { policy.generation(of: $0) != policy.generation(of: now) } ?? true) {
            enqueueExpiry(e, generation: policy.generation(of: now))
        }
        statistics.rowsAppended += 1
        return (rows, tasks)
    }

    /// Copies task `key`'s servable rows oldest-first (features widened to `Float` at bfloat16);
    /// returns their number S.
    ///
    /// - Complexity: O(S · (W + L)) in at most two `memcpy`s (or widening loops) per column group.
    func pull(
        key: UInt64, hash: UInt64, features out: UnsafeMutablePointer<Float>, labels labelOut: UnsafeMutablePointer<Float>?,
        timestamps: UnsafeMutablePointer<Timestamp>?, now: Int64, version: UInt64, policy: SupportPolicy
    ) -> Int {
        guard let e = find(key, hash: hash) else { return 0 }
        let served = servedCount(e, now: now, version: version, policy: policy)
        markUsed(e, now: now)
        guard served > 0 else { return 0 }
        let s = ringSize(e), w = layout.rowWidth, l = layout.labelWidth
        let start = (Int(entries[e].head) + Int(entries[e].count) - served) % s
        let first = min(served, s - start), second = served - first
        let f = features(e), stride = layout.featureRowBytes
        layout.loadRows(f + start * stride, count: first, into: out)
        if second > 0 { layout.loadRows(f, count: second, into: out + first * w) }
        if l > 0, let labelOut {
            let lb = labels(e)
            labelOut.update(from: lb + start * l, count: first * l)
            if second > 0 { (labelOut + first * l).update(from: lb, count: second * l) }
        }
        if let timestamps {
            for i in 0..<served {
                timestamps[i] = Timestamp(nanosecondsSinceEpoch: eventTime(e, (start + i) % s))
            }
        }
        statistics.pulls += 1
        return served
    }

    /// Reclaims rows of fully expired generations and, after a model-version change, rows of
    /// other versions (one pass over this shard's tasks, which are then nearly all expired).
    ///
    /// - Complexity: O(references in expired generations × S) plus, once per version change,
    ///   O(tasks in the shard × S).
    func sweep(now: Int64, version: UInt64, policy: SupportPolicy) -> SweepReport {
        var report = SweepReport()
        func reclaim(_ e: Int) {
            report.entriesVisited += 1
            guard entries[e].live else { return }
            let (rows, removed) = trim(e, now: now, version: version, policy: policy)
            report.rowsReclaimed += rows
            if removed { report.entriesReclaimed += 1 }
        }
        if sweptVersion != version {
            sweptVersion = version
            for e in 0..<entries.count { reclaim(e) }
        }
        if policy.ttl > 0, now >= Int64.min + policy.ttl {
            // Generation g is fully expired when (g + 1) · G ≤ now − ttl + 1.
            let limit = policy.generation(of: now - policy.ttl + 1) - 1
            while let refs = wheel.popGeneration(notAfter: limit) {
                for ref in refs { reclaim(Int(ref)) }
            }
        }
        statistics.tasksExpired += report.entriesReclaimed
        statistics.rowsExpired += report.rowsReclaimed
        return report
    }
}
