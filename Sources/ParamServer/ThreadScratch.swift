#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread scratch memory for the batched calls' per-key arrays (hashes, shard order,
/// resolved slots), so a pull or push allocates nothing once its thread has seen a batch of
/// that size.
///
/// `withUnsafeTemporaryAllocation` would put these on the stack only up to 1 KiB (≈ 128 keys)
/// and call `malloc` above that; serving pulls ~450 keys a request. Instead each thread keeps
/// one block, found through a POSIX thread-specific key, grown when a larger size is asked
/// (at most ``ShardRouting/chunkKeys`` keys' worth, plus the shard table) and freed when the
/// thread exits.
///
/// Thread-safe by construction: a block is only ever used by its own thread. Not reentrant:
/// `body` must not call ``withBytes(_:_:)`` again (checked).
enum ThreadScratch {
    /// Block header: capacity in bytes (after the header), and whether a call is using it.
    private static let headerBytes = 16

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { free($0) }
        precondition(status == 0, "pthread_key_create failed (\(status))")
        return key
    }()

    /// Calls `body` with at least `bytes` bytes (16-byte aligned, uninitialised) owned by the
    /// calling thread until `body` returns.
    ///
    /// - Complexity: O(1); allocates only when `bytes` exceeds every earlier request on this
    ///   thread.
    @inline(__always)
    static func withBytes<R>(_ bytes: Int, _ body: (UnsafeMutableRawPointer) -> R) -> R {
        var block = pthread_getspecific(key)
        if block == nil || block!.load(as: Int.self) < bytes { block = grow(to: bytes) }
        let header = block!
        precondition(header.load(fromByteOffset: 8, as: Int.self) == 0, "ThreadScratch.withBytes is not reentrant")
        header.storeBytes(of: 1, toByteOffset: 8, as: Int.self)
        defer { header.storeBytes(of: 0, toByteOffset: 8, as: Int.self) }
        return body(header + headerBytes)
    }

    /// Replaces this thread's block with one of `bytes` (rounded up to 4 KiB) or more.
    @inline(never)
    private static func grow(to bytes: Int) -> UnsafeMutableRawPointer {
        if let old = pthread_getspecific(key) {
            precondition(old.load(fromByteOffset: 8, as: Int.self) == 0, "ThreadScratch.withBytes is not reentrant")
            free(old)
        }
        let capacity = (bytes + 4_095) & ~4_095
        guard let block = malloc(headerBytes + capacity) else { fatalError("out of memory (\(capacity) bytes of scratch)") }
        block.storeBytes(of: capacity, as: Int.self)
        block.storeBytes(of: 0, toByteOffset: 8, as: Int.self)
        let status = pthread_setspecific(key, block)
        precondition(status == 0, "pthread_setspecific failed (\(status))")
        return block
    }
}
