extension EmbeddingStore {
    /// Writes every row (key, last touch, row, optimiser state) to `path` atomically
    /// (temporary file, fsync, rename). Each shard is consistent; the table as a whole is not
    /// frozen, so snapshot a table while it is quiet (end of training) for a global point in time.
    ///
    /// - Throws: ``ParamServerError/io(path:operation:code:)``; an existing file at `path` is
    ///   left untouched on failure.
    /// - Complexity: O(rows · d); holds one shard lock at a time while encoding that shard.
    public func snapshot(to path: String) throws(ParamServerError) {
        let d = layout.dimension, s = layout.stateWidth
        let writer = try SnapshotWriter(path: path, kind: .embedding, fields: [
            UInt64(d), UInt64(s), UInt64(config.optimizer.tag), UInt64(resolutionNanoseconds), 0,
        ])
        for shard in shards {
            shard.withLock { shard in
                shard.forEachSlot { slot in
                    let touched: Int64 = layout.hasTouch ? timestamp(ofTick: shard.touch(slot)).nanosecondsSinceEpoch : .min
                    writer.record { e in
                        e.append(shard.key(slot))
                        e.append(touched)
                        e.append(floats: shard.row(slot), count: d + s)
                    }
                }
            }
            try writer.flush()
        }
        try writer.commit()
    }

    /// Replaces the table's contents with the snapshot at `path`.
    ///
    /// The whole file is read and validated first (header, every frame checksum, record
    /// layout, shapes); on any error the table is unchanged. Restored rows keep their last-touch
    /// time, so rows that expired while the process was down are reclaimed by the next sweep.
    /// The admission sketch is not part of a snapshot.
    ///
    /// - Throws: ``ParamServerError`` `.io`, `.truncatedSnapshot`, `.corruptSnapshot` (also for
    ///   a NaN or infinite weight or optimiser state, naming the key),
    ///   `.unsupportedSnapshotVersion`, or `.snapshotMismatch` when the dimension or optimiser
    ///   differs from this table's (header fields are compared, never used to size anything).
    /// - Complexity: O(rows · (d + log rows)) time (each shard's rows are sorted by touch time);
    ///   the file and a copy of its rows are held in memory while restoring.
    public func restore(from path: String) throws(ParamServerError) {
        let contents = try SnapshotContents(path: path)
        let d = layout.dimension, s = layout.stateWidth
        guard contents.kind == .embedding else {
            throw .snapshotMismatch(path: path, reason: "it is \(contents.kind.name) snapshot, not an embedding-table one")
        }
        guard contents.version == SnapshotFormat.version else {  // version 2 is a support-store format
            throw .corruptSnapshot(path: path, offset: 8, reason: "an embedding-table snapshot of format version \(contents.version); "
                                   + "embedding tables are written as version \(SnapshotFormat.version)")
        }
        let f = contents.fields
        guard f[0] == UInt64(d) else { throw .snapshotMismatch(path: path, reason: "rows have dimension \(f[0]); this table has \(d)") }
        guard f[2] == UInt64(config.optimizer.tag), f[1] == UInt64(s) else {
            throw .snapshotMismatch(path: path, reason: "optimiser state is \(f[1]) floats a row (optimiser #\(f[2])); this table's \(config.optimizer) keeps \(s)")
        }
        let fresh = shards.map { _ in
            EmbeddingShard(layout: layout, sketchWidth: policy.admissionThreshold > 1 ? config.admissionSketchWidth : nil)
        }
        let ticks = self.ticks
        let mask = shards.count - 1
        // Rows are appended to each shard in touch order, so the restored pages form a valid
        // expiry queue (rows that expired while the process was down fall due at once).
        struct Pending { var touch: UInt32, key: UInt64, offset: Int, at: Int }
        var pending = [[Pending]](repeating: [], count: shards.count)
        var floats = [[Float]](repeating: [], count: shards.count)
        let width = d + s
        try contents.forEachFrame { (decoder, records) throws(ParamServerError) in
            for _ in 0..<records {
                let at = decoder.base + decoder.position
                let key = try decoder.read(UInt64.self)
                let touched = try decoder.read(Int64.self)
                let shard = shardOf(hash: mixKey(key), mask: mask)
                let t = layout.hasTouch ? tick(Timestamp(nanosecondsSinceEpoch: touched)) : 0
                pending[shard].append(Pending(touch: t, key: key, offset: at, at: floats[shard].count))
                try decoder.need(4 * width)
                for j in 0..<width {
                    let x = Float(bitPattern: try decoder.read(UInt32.self))
                    // A NaN row would be served as finite-looking scores; refuse it by its key.
                    guard x.isFinite else {
                        throw .corruptSnapshot(path: path, offset: at, reason: "key \(key): "
                                               + (j < d ? "weight" : "optimiser state") + " \(j < d ? j : j - d) is \(x), not finite")
                    }
                    floats[shard].append(x)
                }
            }
        }
        for (i, shard) in fresh.enumerated() {
            for r in pending[i].sorted(by: { ($0.touch, $0.offset) < ($1.touch, $1.offset) }) {
                let hash = mixKey(r.key)
                if shard.find(r.key, hash: hash) != nil {
                    throw .corruptSnapshot(path: path, offset: r.offset, reason: "key \(r.key) appears twice")
                }
                let slot = shard.appendSlot(key: r.key, hash: hash, at: r.touch, ticks: ticks)
                floats[i].withUnsafeBufferPointer { shard.row(slot).update(from: $0.baseAddress! + r.at, count: width) }
            }
        }
        for (lock, shard) in zip(shards, fresh) {
            lock.withLock { $0 = shard }
        }
    }
}
