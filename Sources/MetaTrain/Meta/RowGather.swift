import TensorCore

/// Row gather/scatter between a batch matrix and a task's small matrices.
enum RowGather {
    /// `out[i, :] = source[rows[i], :]`; `out` is resized to `(rows.count, N)`.
    static func gather(_ source: Tensor, rows: [Int], into out: inout Tensor) {
        let n = source.columns
        out.resize(to: [rows.count, n])
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() {
                    (dst.baseAddress! + i * n).update(from: src.baseAddress! + r * n, count: n)
                }
            }
        }
    }

    /// `out[i] = source[rows[i]]` for a rank-1 source.
    static func gather(vector source: Tensor, rows: [Int], into out: inout Tensor) {
        out.resize(to: [rows.count])
        for (i, r) in rows.enumerated() { out.scalars[i] = source.scalars[r] }
    }

    /// `destination[rows[i], :] += scale · values[i, :]`.
    static func scatterAdd(_ values: Tensor, scale: Float, rows: [Int], into destination: inout Tensor) {
        let n = destination.columns
        precondition(values.shape == [rows.count, n], "scatterAdd: values \(values.shape) for \(rows.count) rows of width \(n)")
        values.withUnsafeBufferPointer { src in
            destination.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() {
                    for j in 0..<n { dst[r * n + j] += scale * src[i * n + j] }
                }
            }
        }
    }
}
