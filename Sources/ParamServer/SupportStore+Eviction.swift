extension SupportStore {
    var isOverBound: Bool {
        let bound = config.memoryBound
        if let limit = bound.maxTasks, tasksInUse.load(ordering: .relaxed) > limit { return true }
        if let limit = bound.maxBytes, bytesInUse.load(ordering: .relaxed) > limit { return true }
        if let limit = bound.maxRows, rowsInUse.load(ordering: .relaxed) > limit { return true }
        return false
    }

    /// Evicts least-recently-used tasks until the store is within every limit of its memory
    /// bound (tasks, bytes charged, rows); evictions are counted in
    /// ``SupportStoreStatistics/tasksEvicted``.
    ///
    /// It reads every shard's LRU tail once (one lock at a time, never two at once), then
    /// repeatedly evicts the oldest tail and re-reads only that shard's new tail, so the order
    /// is exact LRU when single-threaded and approximately LRU under concurrent use (another
    /// thread's use of a cached tail is seen only when that shard is visited). The last task left
    /// is never evicted: it may exceed a bound smaller than its own block alone (and a small
    /// task's growth may evict a larger, less recently used one).
    ///
    /// - Returns: tasks evicted.
    /// - Complexity: O(shards) locks, plus one lock and O(shards) comparisons per task evicted.
    @discardableResult
    func enforceMemoryBound() -> Int {
        guard isOverBound else { return 0 }
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: shards.count) { tails in
            for (i, shard) in shards.enumerated() { tails[i] = shard.withLock { $0.tailUse } }
            var evicted = 0
            while isOverBound && tasksInUse.load(ordering: .relaxed) > 1 {
                var victim = -1
                for i in 0..<tails.count where tails[i] != .max && (victim < 0 || tails[i] < tails[victim]) { victim = i }
                guard victim >= 0 else { break }   // all empty when read: their appenders enforce
                let (rows, bytes, tail) = shards[victim].withLock { s -> (Int, Int, Int64) in
                    guard s.lruTail >= 0 else { return (-1, 0, .max) }
                    let before = s.taskBytes
                    let rows = s.removeEntry(Int(s.lruTail))
                    return (rows, before - s.taskBytes, s.tailUse)
                }
                tails[victim] = tail
                guard rows >= 0 else { continue }
                rowsInUse.subtract(rows, ordering: .relaxed)
                bytesInUse.subtract(bytes, ordering: .relaxed)
                tasksInUse.subtract(1, ordering: .relaxed)
                evictions.add(1, ordering: .relaxed)
                evicted += 1
            }
            return evicted
        }
    }
}
