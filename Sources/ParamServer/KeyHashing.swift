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

/// Groups the positions of a key batch by shard (a stable counting sort), so a batched call
/// takes each shard lock once.
enum ShardRouting {
    /// Calls `body(hashes, order, starts)`: `hashes[i] = mixKey(keys[i])`; the positions of
    /// shard `s` are `order[starts[s] ..< starts[s + 1]]`, in their original order.
    ///
    /// - Complexity: O(n + shards); scratch space is stack- or heap-temporary, freed on return.
    @inline(__always)
    static func withGrouping<R>(
        keys: UnsafeBufferPointer<UInt64>, shardMask: Int,
        _ body: (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int>) throws -> R
    ) rethrows -> R {
        let n = keys.count
        let shards = shardMask + 1
        return try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(n, 1)) { hashes in
            try withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(n, 1)) { order in
                try withUnsafeTemporaryAllocation(of: Int.self, capacity: shards + 1) { starts in
                    let h = hashes.baseAddress!, o = order.baseAddress!, st = starts.baseAddress!
                    st.initialize(repeating: 0, count: shards + 1)
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
                    return try body(h, o, st)
                }
            }
        }
    }
}
