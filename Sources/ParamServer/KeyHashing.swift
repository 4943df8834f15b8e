import Synchronization

/// SplitMix64's finaliser (Steele et al. 2014): a bijection on `UInt64` with full avalanche.
///
/// Bits of the result are split between uses so they stay independent:
/// `[0, 4)` bucket fingerprint, `[8, 24)` shard, `[32, 64)` home bucket in ``SlotIndex``.
@inline(__always)
func mixKey(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

@inline(__always)
func shardOf(hash: UInt64, mask: Int) -> Int {
    Int(truncatingIfNeeded: hash >> 8) & mask
}

/// A shard's `Mutex`, in a class so shards can live in an `Array` (a `Mutex` is not copyable).
///
/// `handoff` makes the lock's happens-before edge visible to ThreadSanitizer: on Linux,
/// `Synchronization.Mutex` hands a contended lock over inside the kernel (`FUTEX_LOCK_PI`),
/// which TSan cannot see, so it reports false races between consecutive holders (reproduced
/// with a four-task counter and nothing else). A release store before unlocking and an acquire
/// load after locking, on an atomic only touched under the lock, restore the edge; on x86-64
/// both are plain `mov`s.
final class ShardLock<State: Sendable>: Sendable {
    private let mutex: Mutex<State>
    private let handoff = Atomic<UInt8>(0)

    init(_ state: consuming sending State) {
        mutex = Mutex(state)
    }

    @inline(__always)
    func withLock<R: Sendable>(_ body: (inout State) -> R) -> R {
        mutex.withLock { state in
            _ = handoff.load(ordering: .acquiring)
            defer { handoff.store(0, ordering: .releasing) }
            return body(&state)
        }
    }
}

/// One chunk of a key batch grouped by shard. Positions are relative to the chunk.
struct ShardGrouping {
    /// `hashes[i] = mixKey(keys[i])`.
    let hashes: UnsafeMutablePointer<UInt64>
    /// The positions of shard `s` are `order[starts[s] ..< starts[s + 1]]`, in their original
    /// order.
    let order: UnsafeMutablePointer<Int32>
    let starts: UnsafeMutablePointer<Int>
    /// Per-key scratch for the shard step, one entry per key of the chunk (resolved slots).
    let slots: UnsafeMutablePointer<Int32>
}

/// Groups the positions of a key batch by shard (a stable counting sort), so a batched call
/// takes each shard lock once per chunk of up to ``chunkKeys`` keys.
enum ShardRouting {
    /// Keys grouped at a time: bounds the per-thread scratch (16 bytes a key, 64 KiB) while
    /// amortising each lock over ~256 keys at the default 16 embedding shards.
    static let chunkKeys = 4_096

    /// Calls `body(offset, grouping)` for each chunk `keys[offset ..< offset + n]`, in order,
    /// with its keys grouped by shard (`grouping` holds `n` positions).
    ///
    /// - Complexity: O(n + shards) per chunk. The scratch is the thread's ``ThreadScratch``:
    ///   nothing is allocated once the thread has seen a chunk this size with this many shards.
    @inline(__always)
    static func forEachChunk(
        keys: UnsafeBufferPointer<UInt64>, shardMask: Int, _ body: (_ offset: Int, _ grouping: ShardGrouping) -> Void
    ) {
        guard let base = keys.baseAddress, !keys.isEmpty else { return }
        let shards = shardMask + 1
        let chunk = min(keys.count, chunkKeys)
        // Layout: hashes UInt64 × chunk | starts Int × (shards + 1) | order, slots Int32 × chunk.
        let startsOffset = chunk * 8, orderOffset = startsOffset + (shards + 1) * 8
        ThreadScratch.withBytes(orderOffset + chunk * 8) { raw in
            let int32s = (raw + orderOffset).bindMemory(to: Int32.self, capacity: 2 * chunk)
            let grouping = ShardGrouping(
                hashes: raw.bindMemory(to: UInt64.self, capacity: chunk), order: int32s,
                starts: (raw + startsOffset).bindMemory(to: Int.self, capacity: shards + 1), slots: int32s + chunk)
            var offset = 0
            while offset < keys.count {
                let n = min(chunk, keys.count - offset)
                group(base + offset, n: n, shardMask: shardMask, into: grouping)
                body(offset, grouping)
                offset += n
            }
        }
    }

    @inline(__always)
    private static func group(_ keys: UnsafePointer<UInt64>, n: Int, shardMask: Int, into g: ShardGrouping) {
        let shards = shardMask + 1
        let h = g.hashes, o = g.order, st = g.starts
        st.update(repeating: 0, count: shards + 1)
        for i in 0..<n {
            let hash = mixKey(keys[i])
            h[i] = hash
            st[shardOf(hash: hash, mask: shardMask) + 1] += 1
        }
        for s in 0..<shards { st[s + 1] += st[s] }
        // Fill using a moving cursor per shard, then restore the starts.
        for i in 0..<n {
            let s = shardOf(hash: h[i], mask: shardMask)
            o[st[s]] = Int32(truncatingIfNeeded: i)
            st[s] += 1
        }
        var s = shards
        while s > 0 { st[s] = st[s - 1]; s -= 1 }
        st[0] = 0
    }
}
