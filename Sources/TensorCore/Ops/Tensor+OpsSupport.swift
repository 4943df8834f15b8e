#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Shape checks shared by the ops in this folder. They run once per call, outside the kernels,
// so the hot loops can use unchecked buffer pointers.

extension Tensor {
    /// Traps unless this tensor is rank 2; returns `(rows, columns)`.
    func requireMatrix(_ op: StaticString, _ name: StaticString) -> (rows: Int, columns: Int) {
        precondition(shape.count == 2, "\(op): \(name) must be rank 2, got shape \(shape)")
        return (shape[0], shape[1])
    }

    /// Traps unless this tensor holds one value per row: shape `(n)` or `(n, 1)`. Returns `n`.
    func requireColumnVector(_ op: StaticString, _ name: StaticString) -> Int {
        precondition(
            shape.count == 1 || (shape.count == 2 && shape[1] == 1),
            "\(op): \(name) must have shape (B) or (B, 1), got \(shape)")
        return shape[0]
    }

    /// Number of elements that are not NaN — the row count of a label column with missing
    /// labels, i.e. the normaliser for a *mean* of ``BCEWithLogits`` / ``MSE`` losses.
    public func countNonNaN() -> Int {
        withUnsafeBufferPointer { x in
            var n = 0
            for v in x where !v.isNaN { n += 1 }
            return n
        }
    }
}
