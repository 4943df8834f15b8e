import CKernels
/// A dense, row-major Float32 tensor of rank 1 to 3 with value semantics.
///
/// Storage is a Swift array, so copies are copy-on-write: `var fast = tower` is a cheap clone
/// until one side writes. Hot paths reach the scalars through
/// ``withUnsafeBufferPointer(_:)`` / ``withUnsafeMutableBufferPointer(_:)`` and reuse
/// preallocated tensors instead of creating new ones.
///
/// Element `(i, j)` of a rank-2 tensor of shape `(M, N)` lives at `scalars[i * N + j]`;
/// element `(i, j, k)` of shape `(P, M, N)` at `scalars[(i * M + j) * N + k]`.
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension, outermost first; `1 ... 3` entries, each `>= 0`.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// Creates a tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        Tensor.checkShape(shape)
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Creates a tensor of the given shape from row-major scalars.
    public init(shape: [Int], scalars: [Float]) {
        Tensor.checkShape(shape)
        precondition(
            scalars.count == shape.reduce(1, *),
            "Tensor: \(scalars.count) scalars do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A rank-2 tensor from nested rows (tests and small literals).
    public init(rows: [[Float]]) {
        let columns = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == columns }, "Tensor(rows:): ragged rows")
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 })
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: Int...) -> Tensor { Tensor(shape: shape) }

    private static func checkShape(_ shape: [Int]) {
        precondition((1...3).contains(shape.count), "Tensor: rank must be 1...3, got shape \(shape)")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
    }

    /// Number of dimensions (1 ... 3).
    @inlinable public var rank: Int { shape.count }
    /// Total number of elements.
    @inlinable public var count: Int { scalars.count }
    /// Rows of a rank-2 tensor (`shape[0]`).
    @inlinable public var rows: Int {
        precondition(shape.count == 2, "rows: tensor of shape \(shape) is not rank 2")
        return shape[0]
    }
    /// Columns of a rank-2 tensor (`shape[1]`).
    @inlinable public var columns: Int {
        precondition(shape.count == 2, "columns: tensor of shape \(shape) is not rank 2")
        return shape[1]
    }

    /// Element `i` of a rank-1 tensor.
    @inlinable public subscript(i: Int) -> Float {
        get { scalars[i] }
        set { scalars[i] = newValue }
    }

    /// Element `(i, j)` of a rank-2 tensor.
    @inlinable public subscript(i: Int, j: Int) -> Float {
        get {
            precondition(shape.count == 2 && i < shape[0] && j < shape[1], "index (\(i), \(j)) out of \(shape)")
            return scalars[i * shape[1] + j]
        }
        set {
            precondition(shape.count == 2 && i < shape[0] && j < shape[1], "index (\(i), \(j)) out of \(shape)")
            scalars[i * shape[1] + j] = newValue
        }
    }

    /// Element `(i, j, k)` of a rank-3 tensor.
    @inlinable public subscript(i: Int, j: Int, k: Int) -> Float {
        get {
            precondition(shape.count == 3 && i < shape[0] && j < shape[1] && k < shape[2], "index (\(i), \(j), \(k)) out of \(shape)")
            return scalars[(i * shape[1] + j) * shape[2] + k]
        }
        set {
            precondition(shape.count == 3 && i < shape[0] && j < shape[1] && k < shape[2], "index (\(i), \(j), \(k)) out of \(shape)")
            scalars[(i * shape[1] + j) * shape[2] + k] = newValue
        }
    }

    /// The same scalars viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Changes the shape in place; the element count must not change.
    public mutating func reshape(_ newShape: [Int]) {
        Tensor.checkShape(newShape)
        precondition(newShape.reduce(1, *) == scalars.count, "reshape: \(shape) -> \(newShape) changes the element count")
        shape = newShape
    }

    /// Resizes to `newShape`, reusing storage when the element count is unchanged.
    /// Contents are unspecified afterwards unless `zeroed` is true (workspace reuse).
    public mutating func resize(to newShape: [Int], zeroed: Bool = false) {
        Tensor.checkShape(newShape)
        resizeStorage(count: newShape.reduce(1, *))
        if shape != newShape { shape = newShape }
        if zeroed { fill(0) }
    }

    /// Resizes to the rank-2 shape `(rows, columns)` without building a shape array when the
    /// shape is unchanged (hot paths call this on every request).
    /// A new row count with the same rank writes the shape array in place (no allocation once
    /// the storage has grown to the largest size seen).
    public mutating func resize(rows: Int, columns: Int, zeroed: Bool = false) {
        if shape.count == 2 && shape[0] == rows && shape[1] == columns {
            if zeroed { fill(0) }
            return
        }
        guard shape.count == 2, rows >= 0, columns >= 0 else {
            resize(to: [rows, columns], zeroed: zeroed)
            return
        }
        resizeStorage(count: rows * columns)
        shape[0] = rows
        shape[1] = columns
        if zeroed { fill(0) }
    }

    /// Sets the element count, reusing storage when it fits.
    private mutating func resizeStorage(count newCount: Int) {
        guard newCount != scalars.count else { return }
        if newCount <= scalars.capacity {
            if newCount < scalars.count {
                scalars.removeLast(scalars.count - newCount)
            } else {
                scalars.append(contentsOf: repeatElement(0, count: newCount - scalars.count))
            }
        } else {
            scalars = [Float](repeating: 0, count: newCount)
        }
    }

    /// Resizes to the rank-3 shape `(d0, d1, d2)`, allocation-free when unchanged.
    public mutating func resize(_ d0: Int, _ d1: Int, _ d2: Int, zeroed: Bool = false) {
        if shape.count == 3 && shape[0] == d0 && shape[1] == d1 && shape[2] == d2 {
            if zeroed { fill(0) }
            return
        }
        guard shape.count == 3, d0 >= 0, d1 >= 0, d2 >= 0 else {
            resize(to: [d0, d1, d2], zeroed: zeroed)
            return
        }
        resizeStorage(count: d0 * d1 * d2)
        shape[0] = d0
        shape[1] = d1
        shape[2] = d2
        if zeroed { fill(0) }
    }

    /// Resizes to the rank-1 shape `(count)`, allocation-free when unchanged.
    public mutating func resize(count: Int, zeroed: Bool = false) {
        if shape.count == 1 && shape[0] == count {
            if zeroed { fill(0) }
            return
        }
        guard shape.count == 1, count >= 0 else {
            resize(to: [count], zeroed: zeroed)
            return
        }
        resizeStorage(count: count)
        shape[0] = count
        if zeroed { fill(0) }
    }

    /// Copies `other`'s elements into this tensor's storage (same shape), keeping storage
    /// unshared — unlike assignment, which shares `other`'s buffer copy-on-write.
    public mutating func assign(_ other: Tensor) {
        precondition(shape == other.shape, "assign: shape \(shape) vs \(other.shape)")
        scalars.withUnsafeMutableBufferPointer { dst in
            other.scalars.withUnsafeBufferPointer { src in
                dst.baseAddress!.update(from: src.baseAddress!, count: src.count)
            }
        }
    }

    /// Sets every element to `value`.
    public mutating func fill(_ value: Float) {
        scalars.withUnsafeMutableBufferPointer { buffer in
            buffer.update(repeating: value)
        }
    }

    /// Calls `body` with the row-major scalars.
    @inlinable public func withUnsafeBufferPointer<R>(
        _ body: (UnsafeBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with mutable access to the row-major scalars.
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// Row `i` of a rank-2 tensor, copied.
    public func row(_ i: Int) -> [Float] {
        let n = columns
        precondition(i >= 0 && i < rows, "row \(i) out of \(shape)")
        return Array(scalars[(i * n)..<((i + 1) * n)])
    }

    /// Whether every element is finite (no NaN, no infinity): ``allFinite(_:count:level:)``.
    public var isFinite: Bool {
        scalars.withUnsafeBufferPointer { p in p.baseAddress.map { Self.allFinite($0, count: p.count) } ?? true }
    }

    /// Whether `x[0 ..< count]` is all finite, by summing `x·0` (0 exactly when every `x` is
    /// finite): no branch per element and no early exit; AVX-512 32 lanes at a time, at
    /// ``SIMDLevel/inUse`` by default (the predictor checks every adapted tower this way).
    public static func allFinite(_ x: UnsafePointer<Float>, count: Int, level: SIMDLevel = .inUse) -> Bool {
        precondition(count >= 0, "allFinite: count \(count) < 0")
        precondition(level <= .cpu, "allFinite: this CPU cannot run the \(level) kernel")
        return mr_all_finite_at_level(Int32(level.rawValue), x, count) != 0
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(scalars.count > 8 ? ", …" : "")])"
    }
}
