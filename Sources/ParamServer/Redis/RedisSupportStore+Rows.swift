/// Appending and pulling rows (the wire layout is in ``RedisSupportStore``).
extension RedisSupportStore {
    /// Atomically appends rows to one list, trims it to `S_max` and sets its expiry.
    static let appendScript = Array("""
        local n = redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
        redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
        if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return n
        """.utf8)

    /// Appends `tasks.count` rows (row `i`: `features[i·W ..< (i+1)·W]`, `labels[i·L ..< (i+1)·L]`,
    /// `timestamps[i]`) in one pipelined round trip: one atomic append per task touched. Throws
    /// when Redis cannot take them; then none may be acknowledged (some tasks may have been written).
    public func append(
        tasks: UnsafeBufferPointer<UInt64>, features: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>,
        timestamps: UnsafeBufferPointer<Timestamp>
    ) throws(RedisError) {
        guard tasks.count > 0 else { return }
        let commands = appendCommands(tasks: tasks, features: features, labels: labels, timestamps: timestamps)
        try Self.checkAppended(try withConnection { c throws(RedisError) in try c.pipeline(commands) })
        counters(appended: tasks.count, pulls: 0)
    }

    /// The pipelined commands of ``append(tasks:features:labels:timestamps:)``: one atomic
    /// `EVAL` per task touched (per 1 000 rows of it), in first-appearance order.
    func appendCommands(
        tasks: UnsafeBufferPointer<UInt64>, features: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>,
        timestamps: UnsafeBufferPointer<Timestamp>
    ) -> [[[UInt8]]] {
        let n = tasks.count, w = rowWidth, l = labelWidth
        precondition(features.count == n * w && labels.count == n * l && timestamps.count == n,
                     "RedisSupportStore.append: \(n) rows need \(n * w) features, \(n * l) labels, \(n) timestamps")
        let now = clock.now().nanosecondsSinceEpoch, v = modelVersion
        var order: [UInt64] = []
        var rows: [UInt64: [[UInt8]]] = [:]
        for i in 0..<n {
            let task = tasks[i]
            if rows[task] == nil { order.append(task) }
            rows[task, default: []].append(encodeRow(written: now, event: timestamps[i].nanosecondsSinceEpoch,
                                                     features: features.baseAddress! + i * w,
                                                     labels: labels.baseAddress.map { $0 + i * l }))
        }
        let expiryMilliseconds: Int64 = ttlNanoseconds == 0 ? 0
            : keepFloor > 0 ? max(keepFloorIdleSeconds * 1000, 2 * (ttlNanoseconds / 1_000_000))
            : max(1, 2 * (ttlNanoseconds / 1_000_000))
        var commands: [[[UInt8]]] = []
        for task in order {
            // Lua's unpack takes a few thousand values at most: long runs go in chunks, in order.
            let taskRows = rows[task]!
            for start in stride(from: 0, to: taskRows.count, by: 1000) {
                let chunk = taskRows[start..<min(start + 1000, taskRows.count)]
                commands.append([Array("EVAL".utf8), Self.appendScript, Array("1".utf8), key(task: task, version: v),
                                 Array(String(capacity).utf8), Array(String(expiryMilliseconds).utf8)] + chunk)
            }
        }
        return commands
    }

    /// Throws unless every reply of the append commands is the list's new length.
    static func checkAppended(_ replies: [RedisReply]) throws(RedisError) {
        for reply in replies where reply.integer == nil {
            if case .error(let message) = reply { throw .server("append: \(message)") }
            throw .unexpectedReply("append: \(reply)")
        }
    }

    /// Pulls the servable rows of `tasks.count` tasks in one pipelined round trip: task `i`'s
    /// rows, oldest first, at `features[i·S_max·W ...]` `(S_i, W)` and `labels[i·S_max·L ...]`
    /// `(S_i, L)`, and `S_i` into `counts[i]` (0 for an unknown task).
    public func pull(
        tasks: UnsafeBufferPointer<UInt64>, features: UnsafeMutableBufferPointer<Float>,
        labels: UnsafeMutableBufferPointer<Float>, counts: UnsafeMutableBufferPointer<Int>,
        timestamps: UnsafeMutableBufferPointer<Timestamp>? = nil
    ) throws(RedisError) {
        let n = tasks.count, s = capacity, w = rowWidth, l = labelWidth
        precondition(features.count >= n * s * w && labels.count >= n * s * l && counts.count >= n
                     && (timestamps.map { $0.count >= n * s } ?? true),
                     "RedisSupportStore.pull: buffers too small for \(n) tasks of S_max = \(s) rows")
        guard n > 0 else { return }
        let v = modelVersion
        let from = Array(String(-s).utf8), to = Array("-1".utf8)
        let commands = (0..<n).map { [Array("LRANGE".utf8), key(task: tasks[$0], version: v), from, to] }
        let replies = try withConnection { c throws(RedisError) in try c.pipeline(commands) }
        let now = clock.now().nanosecondsSinceEpoch, full = rowBytes(.float32), half = rowBytes(.bfloat16)
        for i in 0..<n {
            if case .error(let message) = replies[i] { throw .server("pull: \(message)") }
            guard let elements = replies[i].elements else { throw .unexpectedReply("pull: \(replies[i])") }
            // At most S_max rows of the right size, whatever the server sent (a reply is outside input);
            // elements of another length or type are skipped and counted.
            let wellFormed = elements.compactMap(\.bytes).filter { $0.count == full || $0.count == half }
            if wellFormed.count < elements.count { withStatistics { $0.skippedRows += elements.count - wellFormed.count } }
            let rows = Array(wellFormed.suffix(s))
            let served = servedCount(rows, now: now)
            counts[i] = served
            for (j, row) in rows.suffix(served).enumerated() {
                decodeRow(row, features: features.baseAddress! + (i * s + j) * w,
                          labels: labels.baseAddress.map { $0 + (i * s + j) * l },
                          event: timestamps.map { $0.baseAddress! + i * s + j })
            }
        }
        counters(appended: 0, pulls: n)
    }

    /// The rule of the in-process store: from the newest row back, while the row is within the
    /// keep floor or younger than the TTL.
    func servedCount(_ rows: [[UInt8]], now: Int64) -> Int {
        var k = 0
        for row in rows.reversed() {
            if k >= keepFloor && ttlNanoseconds > 0 {
                let written = row.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int64.self).littleEndian }
                if now >= written {
                    let (age, overflow) = now.subtractingReportingOverflow(written)
                    if overflow || age >= ttlNanoseconds { break }
                }
            }
            k += 1
        }
        return k
    }

    /// Nothing to reclaim by hand: keys expire in Redis, TTL is applied on read.
    @discardableResult
    public func sweep() -> SweepReport { SweepReport() }

    private func counters(appended: Int, pulls: Int) {
        withStatistics { $0.rowsAppended += appended; $0.pulls += pulls }
    }

    /// One row at ``precision`` (the layout in ``RedisSupportStore``).
    func encodeRow(written: Int64, event: Int64, features f: UnsafePointer<Float>, labels y: UnsafePointer<Float>?) -> [UInt8] {
        var row = [UInt8](repeating: 0, count: rowBytes)
        let numeric = precision == .float32 ? 0 : rowWidth - bitPatternColumns   // columns narrowed to bf16
        row.withUnsafeMutableBytes { out in
            out.storeBytes(of: written.littleEndian, toByteOffset: 0, as: Int64.self)
            out.storeBytes(of: event.littleEndian, toByteOffset: 8, as: Int64.self)
            for c in 0..<numeric { out.storeBytes(of: BFloat16.narrow(f[c]).littleEndian, toByteOffset: 16 + 2 * c, as: UInt16.self) }
            let words = 16 + 2 * numeric
            for c in numeric..<rowWidth {
                out.storeBytes(of: f[c].bitPattern.littleEndian, toByteOffset: words + 4 * (c - numeric), as: UInt32.self)
            }
            let labels = words + 4 * (rowWidth - numeric)
            for c in 0..<labelWidth {
                out.storeBytes(of: (y?[c] ?? .nan).bitPattern.littleEndian, toByteOffset: labels + 4 * c, as: UInt32.self)
            }
        }
        return row
    }

    /// Decodes a row of either precision, told apart by its length (``rowBytes(_:)``); features
    /// widened to `Float`.
    func decodeRow(_ row: [UInt8], features f: UnsafeMutablePointer<Float>, labels y: UnsafeMutablePointer<Float>?,
                   event: UnsafeMutablePointer<Timestamp>?) {
        precondition(row.count == rowBytes(.float32) || row.count == rowBytes(.bfloat16),
                     "decodeRow: a row of \(row.count) bytes (the caller filters the other lengths out)")
        let narrow = row.count != rowBytes(.float32)
        let numeric = narrow ? rowWidth - bitPatternColumns : 0
        row.withUnsafeBytes { b in
            event?.pointee = Timestamp(nanosecondsSinceEpoch: b.loadUnaligned(fromByteOffset: 8, as: Int64.self).littleEndian)
            for c in 0..<numeric {
                f[c] = BFloat16.widen(b.loadUnaligned(fromByteOffset: 16 + 2 * c, as: UInt16.self).littleEndian)
            }
            let words = 16 + 2 * numeric
            for c in numeric..<rowWidth {
                f[c] = Float(bitPattern: b.loadUnaligned(fromByteOffset: words + 4 * (c - numeric), as: UInt32.self).littleEndian)
            }
            if let y {
                let labels = words + 4 * (rowWidth - numeric)
                for c in 0..<labelWidth {
                    y[c] = Float(bitPattern: b.loadUnaligned(fromByteOffset: labels + 4 * c, as: UInt32.self).littleEndian)
                }
            }
        }
    }
}
