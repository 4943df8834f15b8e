extension SupportStore {
    /// The keys of every stored task (of any version, expired or not, as a sweep has left them),
    /// most recently used first within each shard. For copying a store elsewhere
    /// (``RedisSupportStore/seed(from:chunkRows:)``).
    ///
    /// - Complexity: O(tasks); one shard lock at a time.
    package func taskKeys() -> [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(count)
        for shard in shards {
            shard.withLock { s in
                var e = Int(s.lruTail)
                while e >= 0 {
                    keys.append(s.entries[e].key)
                    e = Int(s.entries[e].prev)
                }
            }
        }
        return keys
    }
}
