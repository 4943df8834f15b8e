import Testing
@testable import ParamServer

@Suite struct KeyHashingTests {
    @Test(arguments: [1, 3, 4_096, 4_097, 10_000], [1, 64])
    func `grouping by shard is a stable partition of every chunk`(count: Int, shards: Int) {
        let keys = (0..<count).map { UInt64($0 % 1_000) &* 0x9E37_79B9_7F4A_7C15 }   // duplicates included
        var seen = [Int](), chunks = [Int]()
        keys.withUnsafeBufferPointer { k in
            ShardRouting.forEachChunk(keys: k, shardMask: shards - 1) { offset, g in
                let n = g.starts[shards]
                chunks.append(n)
                #expect(n == min(ShardRouting.chunkKeys, count - offset))
                for s in 0..<shards {
                    var previous = -1
                    for i in g.starts[s]..<g.starts[s + 1] {
                        let p = Int(g.order[i])
                        #expect(p > previous, "positions within a shard keep their order")
                        previous = p
                        #expect(g.hashes[p] == mixKey(keys[offset + p]))
                        #expect(shardOf(hash: g.hashes[p], mask: shards - 1) == s)
                        seen.append(offset + p)
                    }
                }
            }
        }
        #expect(seen.sorted() == Array(0..<count))
        #expect(chunks.count == (count + ShardRouting.chunkKeys - 1) / ShardRouting.chunkKeys)
    }

    @Test func `the per-thread scratch is reused once warm`() async {
        // Each task's scratch is its thread's: check within one synchronous stretch.
        let reused: Bool = await Task.detached {
            let table = try! EmbeddingStore(config: .init(dimension: 8, initializer: .uniform(bound: 0.1, seed: 1)))
            let keys = (0..<450).map { UInt64($0) }
            _ = pullRows(table, keys, create: true)
            let first = ThreadScratch.withBytes(1) { UInt(bitPattern: $0) }
            _ = pullRows(table, keys, create: false)
            pushGradients(table, keys, [Float](repeating: 0.5, count: keys.count * 8))
            _ = pullRows(table, Array(keys.prefix(100)), create: false)
            return ThreadScratch.withBytes(1) { UInt(bitPattern: $0) } == first
        }.value
        #expect(reused)
    }

    @Test func `pulls and pushes larger than a chunk match key-by-key calls`() throws {
        let config = EmbeddingStoreConfig(dimension: 4, shardCount: 2, initializer: .uniform(bound: 0.5, seed: 3),
                                          optimizer: .adagrad(learningRate: 0.1, initialAccumulator: 0.1, epsilon: 1e-8))
        let batched = try EmbeddingStore(config: config), single = try EmbeddingStore(config: config)
        let count = 2 * ShardRouting.chunkKeys + 17
        let keys = (0..<count).map { UInt64($0) &* 0x2545_F491_4F6C_DD1D }
        let rows = pullRows(batched, keys + keys.prefix(5), create: true)   // a duplicate in a later chunk
        for (i, key) in keys.enumerated() {
            #expect(pullRows(single, [key], create: true) == Array(rows[i * 4..<(i + 1) * 4]))
        }
        #expect(Array(rows.suffix(20)) == Array(rows.prefix(20)))
        #expect(batched.rowCount == count)
        let gradients = (0..<count * 4).map { Float($0 % 7) - 3 }
        pushGradients(batched, keys, gradients)
        for (i, key) in keys.enumerated() { pushGradients(single, [key], Array(gradients[i * 4..<(i + 1) * 4])) }
        #expect(pullRows(batched, keys, create: false) == pullRows(single, keys, create: false))
    }
}
