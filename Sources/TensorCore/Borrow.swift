/// Contiguous storage whose elements can be borrowed as one pointer for the length of a closure:
/// ``Tensor`` (its row-major scalars) and `Array`. What ``Borrow`` takes.
public protocol ContiguousStorage {
    associatedtype Element
    /// Calls `body` with the address of the first element, valid during the call only.
    func withUnsafeBase<R>(_ body: (UnsafePointer<Element>) -> R) -> R
    /// Calls `body` with the mutable address of the first element (unshared first: a buffer
    /// shared copy-on-write is copied here, once), valid during the call only.
    mutating func withUnsafeMutableBase<R>(_ body: (UnsafeMutablePointer<Element>) -> R) -> R
}

extension Array: ContiguousStorage {
    @inlinable @inline(__always)
    public func withUnsafeBase<R>(_ body: (UnsafePointer<Element>) -> R) -> R {
        withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(Borrow.emptyBase())) }
    }

    @inlinable @inline(__always)
    public mutating func withUnsafeMutableBase<R>(_ body: (UnsafeMutablePointer<Element>) -> R) -> R {
        withUnsafeMutableBufferPointer { body($0.baseAddress ?? Borrow.emptyBase()) }
    }
}

extension Tensor: ContiguousStorage {
    @inlinable @inline(__always)
    public func withUnsafeBase<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        scalars.withUnsafeBase(body)
    }

    @inlinable @inline(__always)
    public mutating func withUnsafeMutableBase<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        scalars.withUnsafeMutableBase(body)
    }
}

/// Borrows the storage of several tensors or arrays at once and hands `body` one raw pointer
/// per buffer (in argument order), so kernel code reads as one scope instead of a closure per
/// buffer (swift-collections' `_Storage.update { handle in … }`, for N buffers):
///
/// ```swift
/// Borrow.update(&output, &projection) { y, p in          // mutable: unshared, then written in place
///     Borrow.read(weight, bias, rest) { w, b, r in        // read-only
///         GEMM.compute(…, a: r, b: w, c: y, …)
///     }
/// }
/// ```
///
/// - Shapes: a pointer addresses the buffer's `count` elements; a tensor's in row-major order of
///   its `shape` (``Tensor``), so strides come from the shape as before.
/// - Lifetime: every pointer is valid only inside `body` (the borrow is closure-bounded, as
///   `withUnsafeBufferPointer`'s): never store or return one. While `body` runs, do not touch the
///   borrowed variables themselves (no resize, append or assignment), only their pointers.
/// - Mutable borrows take `inout` arguments, so Swift's exclusivity rules still apply: two
///   different stored properties of one struct may be borrowed together, one variable not twice.
///   A buffer shared copy-on-write is made unique once, on entry (as
///   `withUnsafeMutableBufferPointer` does); the writes then reach the caller's variable.
/// - Empty buffers: the pointer is non-null but must not be read (only `count == 0` loops take it).
/// - Cost: generic and `@inlinable`, so it specialises into the caller: the same code as the
///   nested `withUnsafe…` closures it replaces, without an allocation.
public enum Borrow {
    /// The non-null pointer handed out for an empty buffer (never dereferenced).
    @inlinable @inline(__always)
    public static func emptyBase<T>() -> UnsafeMutablePointer<T> {
        UnsafeMutablePointer(bitPattern: MemoryLayout<T>.alignment)!
    }

    // MARK: Read-only

    @inlinable @inline(__always)
    public static func read<A: ContiguousStorage, R>(_ a: A, _ body: (UnsafePointer<A.Element>) -> R) -> R {
        a.withUnsafeBase(body)
    }

    @inlinable @inline(__always)
    public static func read<A: ContiguousStorage, B: ContiguousStorage, R>(
        _ a: A, _ b: B, _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in b.withUnsafeBase { pb in body(pa, pb) } }
    }

    @inlinable @inline(__always)
    public static func read<A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, R>(
        _ a: A, _ b: B, _ c: C,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c) { pb, pc in body(pa, pb, pc) } }
    }

    @inlinable @inline(__always)
    public static func read<A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, R>(
        _ a: A, _ b: B, _ c: C, _ d: D,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>, UnsafePointer<D.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c, d) { pb, pc, pd in body(pa, pb, pc, pd) } }
    }

    @inlinable @inline(__always)
    public static func read<
        A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, E: ContiguousStorage, R
    >(
        _ a: A, _ b: B, _ c: C, _ d: D, _ e: E,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>, UnsafePointer<D.Element>,
                 UnsafePointer<E.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c, d, e) { pb, pc, pd, pe in body(pa, pb, pc, pd, pe) } }
    }

    @inlinable @inline(__always)
    public static func read<
        A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, E: ContiguousStorage, F: ContiguousStorage, R
    >(
        _ a: A, _ b: B, _ c: C, _ d: D, _ e: E, _ f: F,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>, UnsafePointer<D.Element>, UnsafePointer<E.Element>, UnsafePointer<F.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c, d, e, f) { pb, pc, pd, pe, pf in body(pa, pb, pc, pd, pe, pf) } }
    }

    @inlinable @inline(__always)
    public static func read<
        A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, E: ContiguousStorage, F: ContiguousStorage, G: ContiguousStorage, R
    >(
        _ a: A, _ b: B, _ c: C, _ d: D, _ e: E, _ f: F, _ g: G,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>, UnsafePointer<D.Element>, UnsafePointer<E.Element>, UnsafePointer<F.Element>, UnsafePointer<G.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c, d, e, f, g) { pb, pc, pd, pe, pf, pg in body(pa, pb, pc, pd, pe, pf, pg) } }
    }

    @inlinable @inline(__always)
    public static func read<
        A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, E: ContiguousStorage, F: ContiguousStorage, G: ContiguousStorage, H: ContiguousStorage, R
    >(
        _ a: A, _ b: B, _ c: C, _ d: D, _ e: E, _ f: F, _ g: G, _ h: H,
        _ body: (UnsafePointer<A.Element>, UnsafePointer<B.Element>, UnsafePointer<C.Element>, UnsafePointer<D.Element>, UnsafePointer<E.Element>, UnsafePointer<F.Element>, UnsafePointer<G.Element>, UnsafePointer<H.Element>) -> R
    ) -> R {
        a.withUnsafeBase { pa in read(b, c, d, e, f, g, h) { pb, pc, pd, pe, pf, pg, ph in body(pa, pb, pc, pd, pe, pf, pg, ph) } }
    }

    // MARK: Mutable

    @inlinable @inline(__always)
    public static func update<A: ContiguousStorage, R>(_ a: inout A, _ body: (UnsafeMutablePointer<A.Element>) -> R) -> R {
        a.withUnsafeMutableBase(body)
    }

    @inlinable @inline(__always)
    public static func update<A: ContiguousStorage, B: ContiguousStorage, R>(
        _ a: inout A, _ b: inout B, _ body: (UnsafeMutablePointer<A.Element>, UnsafeMutablePointer<B.Element>) -> R
    ) -> R {
        a.withUnsafeMutableBase { pa in b.withUnsafeMutableBase { pb in body(pa, pb) } }
    }

    @inlinable @inline(__always)
    public static func update<A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, R>(
        _ a: inout A, _ b: inout B, _ c: inout C,
        _ body: (UnsafeMutablePointer<A.Element>, UnsafeMutablePointer<B.Element>, UnsafeMutablePointer<C.Element>) -> R
    ) -> R {
        a.withUnsafeMutableBase { pa in update(&b, &c) { pb, pc in body(pa, pb, pc) } }
    }

    @inlinable @inline(__always)
    public static func update<A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, R>(
        _ a: inout A, _ b: inout B, _ c: inout C, _ d: inout D,
        _ body: (UnsafeMutablePointer<A.Element>, UnsafeMutablePointer<B.Element>, UnsafeMutablePointer<C.Element>,
                 UnsafeMutablePointer<D.Element>) -> R
    ) -> R {
        a.withUnsafeMutableBase { pa in update(&b, &c, &d) { pb, pc, pd in body(pa, pb, pc, pd) } }
    }

    @inlinable @inline(__always)
    public static func update<
        A: ContiguousStorage, B: ContiguousStorage, C: ContiguousStorage, D: ContiguousStorage, E: ContiguousStorage, R
    >(
        _ a: inout A, _ b: inout B, _ c: inout C, _ d: inout D, _ e: inout E,
        _ body: (UnsafeMutablePointer<A.Element>, UnsafeMutablePointer<B.Element>, UnsafeMutablePointer<C.Element>,
                 UnsafeMutablePointer<D.Element>, UnsafeMutablePointer<E.Element>) -> R
    ) -> R {
        a.withUnsafeMutableBase { pa in update(&b, &c, &d, &e) { pb, pc, pd, pe in body(pa, pb, pc, pd, pe) } }
    }

    // MARK: Many of one kind

    /// Borrows every element of `buffers` mutably at once (the bottom's `K` task outputs):
    /// `body` gets their base addresses in order, in a buffer valid during the call only.
    /// - Complexity: one recursion level per buffer; no heap allocation (the addresses live on
    ///   the stack).
    @inlinable
    public static func update<S: ContiguousStorage, R>(
        each buffers: inout [S], _ body: (UnsafeBufferPointer<UnsafeMutablePointer<S.Element>>) -> R
    ) -> R {
        buffers.withUnsafeMutableBufferPointer { buffers in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<S.Element>.self, capacity: buffers.count) { bases in
                borrow(buffers, from: 0, into: bases, body)
            }
        }
    }

    /// Borrows `buffers[i...]`, writing their addresses to `bases`, then calls `body`.
    @inlinable
    static func borrow<S: ContiguousStorage, R>(
        _ buffers: UnsafeMutableBufferPointer<S>, from i: Int,
        into bases: UnsafeMutableBufferPointer<UnsafeMutablePointer<S.Element>>,
        _ body: (UnsafeBufferPointer<UnsafeMutablePointer<S.Element>>) -> R
    ) -> R {
        guard i < buffers.count else { return body(UnsafeBufferPointer(bases)) }
        return buffers[i].withUnsafeMutableBase { base in
            (bases.baseAddress! + i).initialize(to: base)
            return borrow(buffers, from: i + 1, into: bases, body)
        }
    }
}
