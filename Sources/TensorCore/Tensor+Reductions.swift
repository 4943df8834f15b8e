/// Reductions over all elements, rows and columns.
extension Tensor {
    /// Sum of every element, accumulated in Double so long tensors don't lose precision.
    public func sum() -> Double {
        scalars.withUnsafeBufferPointer { x in
            var total = 0.0
            for v in x { total += Double(v) }
            return total
        }
    }

    /// Mean of every element (0 for an empty tensor).
    public func mean() -> Double {
        count == 0 ? 0 : sum() / Double(count)
    }

    /// Column sums of a rank-2 (M, N) tensor: `out[j] = Σ_i self[i, j]`, shape (N).
    /// This is the bias gradient of a linear layer.
    public func sumOverRows() -> Tensor {
        var out = Tensor(shape: [columns])
        accumulateColumnSums(into: &out)
        return out
    }

    /// `out[j] += Σ_i self[i, j]` for a rank-2 (M, N) tensor and an (N) accumulator.
    public func accumulateColumnSums(into out: inout Tensor) {
        let m = rows, n = columns
        precondition(out.shape == [n], "accumulateColumnSums: out \(out.shape), expected [\(n)]")
        scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { o in
                for i in 0..<m {
                    let base = i * n
                    for j in 0..<n { o[j] += x[base + j] }
                }
            }
        }
    }

    /// Row sums of a rank-2 (M, N) tensor: `out[i] = Σ_j self[i, j]`, shape (M).
    public func sumOverColumns() -> Tensor {
        let m = rows, n = columns
        var out = Tensor(shape: [m])
        scalars.withUnsafeBufferPointer { x in
            out.scalars.withUnsafeMutableBufferPointer { o in
                for i in 0..<m {
                    var s: Float = 0
                    for j in 0..<n { s += x[i * n + j] }
                    o[i] = s
                }
            }
        }
        return out
    }

    /// Largest absolute element (0 for an empty tensor).
    public func maxAbs() -> Float {
        scalars.reduce(0) { Swift.max($0, abs($1)) }
    }

    /// Squared L2 norm, in Double.
    public func squaredNorm() -> Double {
        scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
    }
}
