import TensorCore

/// Scales every row to unit Euclidean length (the towers' last op, so that `⟨u, v⟩/τ` is a
/// cosine over a temperature, as in Yi et al. RecSys 2019).
///
/// ```
/// y[b, :] = x[b, :] / ‖x[b, :]‖        ‖x‖ floored at 1e-12
/// dx[b, :] += (dy[b, :] − y[b, :] ⟨y[b, :], dy[b, :]⟩) / ‖x[b, :]‖
/// x, y (B, d)   norms (B)
/// ```
public enum RowNormalize {
    /// Writes `y` (resized to `x`'s shape) and the row norms (kept for backward).
    public static func forward(_ x: Tensor, output y: inout Tensor, norms: inout [Float]) {
        let (rows, d) = x.matrixShape("RowNormalize.forward", "x")
        y.resize(rows: rows, columns: d)
        if norms.count != rows { norms = [Float](repeating: 0, count: rows) }
        Borrow.update(&y, &norms) { out, nrm in
            Borrow.read(x) { xs in
                for b in 0..<rows {
                    var sum: Float = 0
                    for j in 0..<d { sum += xs[b * d + j] * xs[b * d + j] }
                    let norm = max(sum.squareRoot(), 1e-12)
                    nrm[b] = norm
                    for j in 0..<d { out[b * d + j] = xs[b * d + j] / norm }
                }
            }
        }
    }

    /// Accumulates `∂L/∂x` into `dx` from the forward output `y` and its `norms`.
    public static func backward(output y: Tensor, norms: [Float], dOutput: Tensor, dInput dx: inout Tensor) {
        let (rows, d) = y.matrixShape("RowNormalize.backward", "y")
        precondition(dOutput.shape == y.shape && dx.shape == y.shape && norms.count == rows,
                     "RowNormalize.backward: y \(y.shape), dOutput \(dOutput.shape), dInput \(dx.shape), \(norms.count) norms")
        Borrow.update(&dx) { g in
            Borrow.read(y, dOutput) { ys, dy in
                for b in 0..<rows {
                    var dot: Float = 0
                    for j in 0..<d { dot += ys[b * d + j] * dy[b * d + j] }
                    let inverse = 1 / norms[b]
                    for j in 0..<d { g[b * d + j] += (dy[b * d + j] - ys[b * d + j] * dot) * inverse }
                }
            }
        }
    }
}
