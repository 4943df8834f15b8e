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
    /// Each round reads every shard's LRU tail (one lock at a time, never two at once) and
    /// evicts the globally oldest, so the order is exact LRU when single-threaded and
    /// approximately LRU under concurrent use. A task is never evicted to make room for less
    /// than itself: the newest task may exceed a bound smaller than one block on its own.
    ///
    /// - Returns: tasks evicted.
    /// - Complexity: O(shards) per task evicted.
    @discardableResult
    func enforceMemoryBound() -> Int {
        var evicted = 0
        while isOverBound && tasksInUse.load(ordering: .relaxed) > 1 {
            var oldest = Int64.max, victim = -1
            for (i, shard) in shards.enumerated() {
                let t = shard.withLock { s in s.lruTail >= 0 ? s.entries[Int(s.lruTail)].lastUse : Int64.max }
                if t < oldest || (victim < 0 && t != Int64.max) { oldest = t; victim = i }
            }
            guard victim >= 0 else { break }
            let (rows, bytes) = shards[victim].withLock { s -> (Int, Int) in
                guard s.lruTail >= 0 else { return (-1, 0) }
                let before = s.taskBytes
                let rows = s.removeEntry(Int(s.lruTail))
                return (rows, before - s.taskBytes)
            }
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
