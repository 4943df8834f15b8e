/// Seeding a fleet's Redis from a model directory's in-process rows.
extension RedisSupportStore {
    /// Copies `store`'s servable rows (both stores at the same model version) (each task's newest servable suffix, oldest first, with
    /// their event times) into Redis under the current model version, unless this version was
    /// seeded already: a marker key `PREFIX:<version>:seeded`, set with `SET NX` before the copy,
    /// makes the first replica of a fleet seed and the others skip. Rows are appended in
    /// pipelined round trips of about `chunkRows` rows; their write time (what the TTL counts
    /// from) is the seeding time.
    ///
    /// The copy runs on a connection of its own with `timeoutSeconds` (a round trip carries
    /// about a megabyte: serving's timeout of tens of milliseconds would cut it).
    ///
    /// - Returns: the rows copied, or `nil` when the version was seeded already.
    /// - Throws: ``RedisError`` when Redis fails; the marker is then removed (best effort), so the
    ///   next replica to start seeds again — rows a partial copy wrote may then be written twice
    ///   (each list is still trimmed to `S_max`).
    public func seed(from store: SupportStore, chunkRows: Int = 4096, timeoutSeconds: Double = 30) throws(RedisError) -> Int? {
        precondition(store.config.rowWidth == rowWidth && store.config.labelWidth == labelWidth && store.config.capacity == capacity,
                     "RedisSupportStore.seed: the stores' shapes differ")
        precondition(store.modelVersion == modelVersion,
                     "RedisSupportStore.seed: the in-process store serves version \(store.modelVersion), this store writes \(modelVersion)")
        let marker = Array("\(keyPrefix):\(String(modelVersion, radix: 16)):seeded".utf8)
        let connection = try RedisConnection(address: address, timeoutSeconds: timeoutSeconds)
        let claimed = try connection.command([Array("SET".utf8), marker, Array("1".utf8), Array("NX".utf8)])
        if case .error(let message) = claimed { throw .server("seed: \(message)") }
        guard claimed == .status("OK") else { return nil }
        do {
            return try copyRows(of: store, chunkRows: chunkRows, over: connection)
        } catch {
            _ = try? RedisConnection(address: address, timeoutSeconds: timeoutSeconds).command([Array("DEL".utf8), marker])
            throw error
        }
    }

    /// Every servable row of `store`, appended over `connection` in pipelines of about `chunkRows` rows.
    private func copyRows(of store: SupportStore, chunkRows: Int, over connection: RedisConnection) throws(RedisError) -> Int {
        let (w, l, s) = (rowWidth, labelWidth, capacity)
        var taskFeatures = [Float](repeating: 0, count: s * w), taskLabels = [Float](repeating: 0, count: s * l)
        var taskTimes = [Timestamp](repeating: .zero, count: s)
        var tasks: [UInt64] = [], features: [Float] = [], labels: [Float] = [], times: [Timestamp] = []
        var copied = 0
        func flush() throws(RedisError) {
            try tasks.withUnsafeBufferPointer { (t) throws(RedisError) in
                try features.withUnsafeBufferPointer { (f) throws(RedisError) in
                    try labels.withUnsafeBufferPointer { (y) throws(RedisError) in
                        try times.withUnsafeBufferPointer { (ts) throws(RedisError) in
                            let commands = appendCommands(tasks: t, features: f, labels: y, timestamps: ts)
                            try Self.checkAppended(try connection.pipeline(commands))
                        }
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
