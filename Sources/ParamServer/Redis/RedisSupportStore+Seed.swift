/// Seeding a fleet's Redis from a model directory's in-process rows.
extension RedisSupportStore {
    /// Copies `store`'s servable rows (both stores at the same model version) (each task's newest servable suffix, oldest first, with
    /// their event times) into Redis under the current model version, unless this version was
    /// seeded already: a marker key `PREFIX:<version>:seeded`, set with `SET NX` before the copy,
    /// makes the first replica of a fleet seed and the others skip. Rows are appended in
    /// pipelined round trips of about `chunkRows` rows; their write time (what the TTL counts
    /// from) is the seeding time.
    ///
    /// - Returns: the rows copied, or `nil` when the version was seeded already.
    /// - Throws: ``RedisError`` when Redis fails; the marker stays, so a partial copy is not
    ///   retried by another replica (delete the marker key to seed again).
    public func seed(from store: SupportStore, chunkRows: Int = 4096) throws(RedisError) -> Int? {
        precondition(store.config.rowWidth == rowWidth && store.config.labelWidth == labelWidth && store.config.capacity == capacity,
                     "RedisSupportStore.seed: the stores' shapes differ")
        precondition(store.modelVersion == modelVersion,
                     "RedisSupportStore.seed: the in-process store serves version \(store.modelVersion), this store writes \(modelVersion)")
        let marker = Array("\(keyPrefix):\(String(modelVersion, radix: 16)):seeded".utf8)
        let claimed = try withConnection { c throws(RedisError) in
            try c.command([Array("SET".utf8), marker, Array("1".utf8), Array("NX".utf8)])
        }
        if case .error(let message) = claimed { throw .server("seed: \(message)") }
        guard claimed == .status("OK") else { return nil }
        let (w, l, s) = (rowWidth, labelWidth, capacity)
        var taskFeatures = [Float](repeating: 0, count: s * w), taskLabels = [Float](repeating: 0, count: s * l)
        var taskTimes = [Timestamp](repeating: .zero, count: s)
        var tasks: [UInt64] = [], features: [Float] = [], labels: [Float] = [], times: [Timestamp] = []
        var copied = 0
        func flush() throws(RedisError) {
            try tasks.withUnsafeBufferPointer { (t) throws(RedisError) in
                try features.withUnsafeBufferPointer { (f) throws(RedisError) in
                    try labels.withUnsafeBufferPointer { (y) throws(RedisError) in
                        try times.withUnsafeBufferPointer { (ts) throws(RedisError) in try append(tasks: t, features: f, labels: y, timestamps: ts) }
                    }
                }
            }
            copied += tasks.count
            tasks.removeAll(keepingCapacity: true); features.removeAll(keepingCapacity: true)
            labels.removeAll(keepingCapacity: true); times.removeAll(keepingCapacity: true)
        }
        for task in store.taskKeys() {
            let n = taskFeatures.withUnsafeMutableBufferPointer { f in
                taskLabels.withUnsafeMutableBufferPointer { y in
                    taskTimes.withUnsafeMutableBufferPointer { t in store.pull(task: task, features: f, labels: y, timestamps: t) }
                }
            }
            tasks.append(contentsOf: repeatElement(task, count: n))
            features.append(contentsOf: taskFeatures[..<(n * w)])
            labels.append(contentsOf: taskLabels[..<(n * l)])
            times.append(contentsOf: taskTimes[..<n])
            if tasks.count >= chunkRows { try flush() }
        }
        if !tasks.isEmpty { try flush() }
        return copied
    }
}
