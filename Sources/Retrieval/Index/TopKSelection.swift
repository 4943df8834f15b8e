/// A bounded min-heap keeping the `k` best (score, id) pairs seen, over caller-owned storage
/// (no allocation). "Better" is a higher score, ties broken by the lower id, so the result does
/// not depend on the order items are offered.
///
/// ```
/// offer(s, i): if size < k push; else if (s, i) beats the root (the worst kept) replace it, sift down
/// finish:      heap-sort in place → best first
/// ```
/// - Complexity: `O(log k)` per accepted offer, `O(1)` per rejected one; `O(k log k)` to finish.
struct TopKSelection {
    let scores: UnsafeMutablePointer<Float>
    let ids: UnsafeMutablePointer<Int32>
    let k: Int
    private(set) var size = 0

    /// A heap over `k` slots of `scores` and `ids` already holding `size` entries in heap order.
    init(scores: UnsafeMutablePointer<Float>, ids: UnsafeMutablePointer<Int32>, k: Int, size: Int = 0) {
        (self.scores, self.ids, self.k, self.size) = (scores, ids, k, size)
    }

    /// Whether `(s, i)` ranks above `(t, j)`.
    @inline(__always) static func beats(_ s: Float, _ i: Int32, _ t: Float, _ j: Int32) -> Bool {
        s > t || (s == t && i < j)
    }

    /// The score an offer must beat once the heap is full (`−∞` before).
    @inline(__always) var threshold: Float { size < k ? -.infinity : scores[0] }

    @inline(__always) mutating func offer(_ s: Float, _ i: Int32) {
        if size < k {
            var c = size
            size += 1
            while c > 0 {
                let parent = (c - 1) / 2
                guard Self.beats(scores[parent], ids[parent], s, i) else { break }
                (scores[c], ids[c]) = (scores[parent], ids[parent])
                c = parent
            }
            (scores[c], ids[c]) = (s, i)
        } else if k > 0 && Self.beats(s, i, scores[0], ids[0]) {
            siftDown(s, i, count: size)
        }
    }

    /// Places `(s, i)` at the root of a heap of `count` and restores the min-heap order.
    private func siftDown(_ s: Float, _ i: Int32, count: Int) {
        var c = 0
        while true {
            var child = 2 * c + 1
            guard child < count else { break }
            if child + 1 < count && Self.beats(scores[child], ids[child], scores[child + 1], ids[child + 1]) { child += 1 }
            guard Self.beats(s, i, scores[child], ids[child]) else { break }
            (scores[c], ids[c]) = (scores[child], ids[child])
            c = child
        }
        (scores[c], ids[c]) = (s, i)
    }

    /// Sorts the kept pairs best first (the heap is spent); returns how many were kept.
    mutating func finish() -> Int {
        var n = size
        while n > 1 {
            let (s, i) = (scores[n - 1], ids[n - 1])
            (scores[n - 1], ids[n - 1]) = (scores[0], ids[0])
            n -= 1
            siftDown(s, i, count: n)
        }
        return size
    }
}
