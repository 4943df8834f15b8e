import TensorCore

extension Tensor {
    /// Traps unless this tensor is rank 2; returns `(rows, columns)` (programmer error: the
    /// message names the op and the shape).
    func matrixShape(_ op: StaticString, _ name: StaticString) -> (rows: Int, columns: Int) {
        precondition(shape.count == 2, "\(op): \(name) must be rank 2, got shape \(shape)")
        return (shape[0], shape[1])
    }
}
