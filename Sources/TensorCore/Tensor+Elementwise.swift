/// Elementwise arithmetic. In-place forms (`add`, `scale`, `addScaled`) are what hot paths use;
/// the operators allocate a result and exist for tests and setup code.
extension Tensor {
    /// `self += other` elementwise; shapes must match.
    public mutating func add(_ other: Tensor) {
        addScaled(other, by: 1)
    }

    /// `self -= other` elementwise; shapes must match.
    public mutating func subtract(_ other: Tensor) {
        addScaled(other, by: -1)
    }

    /// `self += alpha * other` (axpy); shapes must match.
    public mutating func addScaled(_ other: Tensor, by alpha: Float) {
        precondition(shape == other.shape, "addScaled: shape \(shape) vs \(other.shape)")
        scalars.withUnsafeMutableBufferPointer { y in
            other.scalars.withUnsafeBufferPointer { x in
                for i in 0..<y.count { y[i] += alpha * x[i] }
            }
        }
    }

    /// `self *= alpha`.
    public mutating func scale(by alpha: Float) {
        scalars.withUnsafeMutableBufferPointer { y in
            for i in 0..<y.count { y[i] *= alpha }
        }
    }

    /// `self *= other` elementwise (Hadamard); shapes must match.
    public mutating func multiply(by other: Tensor) {
        precondition(shape == other.shape, "multiply: shape \(shape) vs \(other.shape)")
        scalars.withUnsafeMutableBufferPointer { y in
            other.scalars.withUnsafeBufferPointer { x in
                for i in 0..<y.count { y[i] *= x[i] }
            }
        }
    }

    /// A tensor of the same shape with `transform` applied to every element.
    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map(transform))
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        var result = lhs
        result.add(rhs)
        return result
    }

    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        var result = lhs
        result.subtract(rhs)
        return result
    }

    public static func * (lhs: Float, rhs: Tensor) -> Tensor {
        var result = rhs
        result.scale(by: lhs)
        return result
    }

    /// Elementwise product.
    public static func .* (lhs: Tensor, rhs: Tensor) -> Tensor {
        var result = lhs
        result.multiply(by: rhs)
        return result
    }

    /// Adds the rank-1 `bias` (N) to every row of this rank-2 (M, N) tensor.
    public mutating func addToRows(_ bias: Tensor) {
        let m = rows, n = columns
        precondition(bias.shape == [n], "addToRows: bias \(bias.shape) for rows of width \(n)")
        scalars.withUnsafeMutableBufferPointer { y in
            bias.scalars.withUnsafeBufferPointer { b in
                for i in 0..<m {
                    let base = i * n
                    for j in 0..<n { y[base + j] += b[j] }
                }
            }
        }
    }
}

infix operator .* : MultiplicationPrecedence
