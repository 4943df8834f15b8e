extension SupportStore {
    /// Writes every task (key, last use, stored rows oldest-first with their features, labels,
    /// event time, write time and version) to `path` atomically (temporary file, fsync, rename).
    /// Features are written at the store's precision: format version 1 at float32, version 2
    /// (which names the row encoding) at bfloat16.
    /// Each shard is consistent; snapshot a quiet store for a global point in time.
    ///
    /// - Parameter journalPosition: recorded in the header (its fifth field, 0 before) and returned
    ///   by ``restore(from:)``: the owner's write-ahead log position the snapshot covers (the
    ///   server's event log: the first log segment *not* in the snapshot; 0 for none).
    /// - Throws: ``ParamServerError/io(path:operation:code:)``; an existing file at `path` is
    ///   left untouched on failure.
    /// - Complexity: O(rows · (W + L)); one shard lock at a time.
    public func snapshot(to path: String, journalPosition: UInt64 = 0) throws(ParamServerError) {
        let l = layout.labelWidth, stride = layout.featureRowBytes
        // Version 1 (five fields) whenever it can say what the rows are, so float32 snapshots stay
        // readable by builds that predate bfloat16 rows; version 2 names the row encoding.
        var fields = [UInt64(layout.rowWidth), UInt64(l), UInt64(layout.capacity), modelVersion, journalPosition]
        if layout.precision != .float32 {
            fields.append(layout.precision.snapshotCode | UInt64(layout.bitPatternColumns) << 8)
        }
        let writer = try SnapshotWriter(path: path, kind: .support, fields: fields)
        for shard in shards {
            shard.withLock { s in
                // Least recently used first, so restoring in file order rebuilds the LRU list.
                var e = Int(s.lruTail)
                while e >= 0 {
                    let entry = s.entries[e], ring = s.ringSize(e)
                    writer.record { out in
                        out.append(entry.key)
                        out.append(entry.lastUse)
                        out.append(UInt32(entry.count))
                        out.append(UInt32(0))
                        for i in 0..<Int(entry.count) {
                            let slot = (Int(entry.head) + i) % ring
                            layout.appendRow(s.features(e) + slot * stride, to: &out)
                            out.append(floats: s.labels(e) + slot * l, count: l)
                            out.append(s.eventTime(e, slot))
                            out.append(s.writeTime(e, slot))
                            out.append(s.version(e, slot))
                        }
                    }
                    e = Int(entry.prev)
                }
            }
            try writer.flush()
        }
        try writer.commit()
    }

    /// Replaces the store's contents with the snapshot at `path`.
    ///
    /// The whole file is read and validated first; on any error the store is unchanged. A file of
    /// either precision restores into a store of either: float32 rows into a bfloat16 store are
    /// rounded as an append rounds them, bfloat16 rows into a float32 store are widened exactly. Rows
    /// keep their write times and versions, so rows that expired meanwhile, or were written by
    /// another model version, are not served and are reclaimed by the next ``sweep()``. The
    /// memory bound is applied after restoring.
    ///
    /// - Returns: the journal position recorded by ``snapshot(to:journalPosition:)`` (0 for a
    ///   snapshot written without one).
    /// - Throws: ``ParamServerError`` `.io`, `.truncatedSnapshot`, `.corruptSnapshot`,
    ///   `.unsupportedSnapshotVersion`, or `.snapshotMismatch` when W, L or S_max differ.
    /// - Complexity: O(rows · (W + L)).
    @discardableResult
    public func restore(from path: String) throws(ParamServerError) -> UInt64 {
        let contents = try SnapshotContents(path: path)
        let w = layout.rowWidth, l = layout.labelWidth, cap = layout.capacity
        guard contents.kind == .support else {
            throw .snapshotMismatch(path: path, reason: "it is \(contents.kind.name) snapshot, not a support-store one")
        }
        let f = contents.fields
        guard f[0] == UInt64(w), f[1] == UInt64(l), f[2] == UInt64(cap) else {
            throw .snapshotMismatch(path: path, reason: "rows are W = \(f[0]), L = \(f[1]) with S_max = \(f[2]); this store has W = \(w), L = \(l), S_max = \(cap)")
        }
        let filePrecision = try rowEncoding(of: contents)
        let fresh = shards.map { _ in SupportShard(layout: layout, version: f[3]) }
        let mask = shards.count - 1
        var rows = 0, tasks = 0, bytes = 0
        let row = UnsafeMutableBufferPointer<Float>.allocate(capacity: w)
        defer { row.deallocate() }
        try contents.forEachFrame { (decoder, records) throws(ParamServerError) in
            for _ in 0..<records {
                let at = decoder.base + decoder.position
                let key = try decoder.read(UInt64.self)
                let lastUse = try decoder.read(Int64.self)
                let count = Int(try decoder.read(UInt32.self))
                _ = try decoder.read(UInt32.self)
                guard count >= 1 && count <= cap else {
                    throw .corruptSnapshot(path: path, offset: at, reason: "task \(key) has \(count) rows; S_max is \(cap)")
                }
                try decoder.need(count * (layout.fileRowBytes(filePrecision) + 4 * l + 24))
                let hash = mixKey(key)
                let shard = fresh[shardOf(hash: hash, mask: mask)]
                if shard.find(key, hash: hash) != nil {
                    throw .corruptSnapshot(path: path, offset: at, reason: "task \(key) appears twice")
                }
                let e = shard.allocateEntry(key: key, hash: hash, now: lastUse, sizeClass: layout.sizeClass(rows: count))
                let b = shard.block(e), bl = shard.blockLayout(e)
                var newest: Int64 = .min
                for slot in 0..<count {
                    // Through a float row, so a file of either precision fills a store of either
                    // (float32 → bfloat16 rounds as an append would; bfloat16 → float32 is exact).
                    try layout.readRow(&decoder, precision: filePrecision, into: row.baseAddress!)
                    layout.storeRow(row.baseAddress!, to: shard.features(e) + slot * layout.featureRowBytes)
                    try decoder.readFloats(into: shard.labels(e) + slot * l, count: l)
                    b.storeBytes(of: try decoder.read(Int64.self), toByteOffset: bl.eventOffset + slot * 8, as: Int64.self)
                    newest = try decoder.read(Int64.self)
                    b.storeBytes(of: newest, toByteOffset: bl.writeOffset + slot * 8, as: Int64.self)
                    b.storeBytes(of: try decoder.read(UInt64.self), toByteOffset: bl.versionOffset + slot * 8, as: UInt64.self)
                }
                shard.entries[e].count = Int32(count)
                shard.storedRows += count
                if policy.ttl > 0 {
                    // Oldest write's generation: the first sweep that can drop any of its rows.
                    let oldest = b.loadUnaligned(fromByteOffset: bl.writeOffset, as: Int64.self)
                    shard.wheel.add(e, generation: policy.generation(of: oldest))
                    if policy.generation(of: newest) != policy.generation(of: oldest) {
                        shard.wheel.add(e, generation: policy.generation(of: newest))
                    }
                }
                rows += count
                tasks += 1
                bytes += layout.taskBytes(sizeClass: Int(shard.entries[e].sizeClass))
            }
        }
        for (lock, shard) in zip(shards, fresh) {
            lock.withLock { $0 = shard }
        }
        rowsInUse.store(rows, ordering: .relaxed)
        tasksInUse.store(tasks, ordering: .relaxed)
        bytesInUse.store(bytes, ordering: .relaxed)
        enforceMemoryBound()
        return f[4]
    }

    /// The row encoding a support snapshot's header names (version 1: float32), checked against
    /// what the format writes and against this store's bit-pattern columns.
    private func rowEncoding(of contents: SnapshotContents) throws(ParamServerError) -> SupportPrecision {
        let (path, field) = (contents.path, contents.fields[5])
        guard let precision = SupportPrecision(snapshotCode: field) else {
            throw .corruptSnapshot(path: path, offset: 56, reason: "unknown support row encoding \(field & 0xFF) (1 float32, 2 bfloat16)")
        }
        // Version 2 is written for bfloat16 rows only (float32 stays version 1), so a version-2
        // header naming float32 (or nothing) is not a file this format writes.
        if contents.version >= 2 && precision == .float32 {
            throw .corruptSnapshot(path: path, offset: 56, reason: "a version-2 support snapshot names row encoding \(field & 0xFF); "
                                   + "version 2 is written for bfloat16 rows (2) only")
        }
        // A bf16 file's rows end in X 32-bit columns (bits 8… of the field); float32 rows are all 32-bit.
        if precision == .bfloat16 && field >> 8 != UInt64(layout.bitPatternColumns) {
            throw .snapshotMismatch(path: path, reason: "its rows end in \(field >> 8) bit-pattern columns; this store's in \(layout.bitPatternColumns)")
        }
        return precision
    }
}
