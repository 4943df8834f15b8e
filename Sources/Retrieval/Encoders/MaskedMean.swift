import TensorCore

/// The bag-of-words history encoder: the mean of the history items' embedding rows, padding
/// masked out.
///
/// ```
/// out[b, :] = (1 / n_b) · Σ_{t < n_b} table[ids[b, t], :]        n_b = 0 → zeros
/// table (N, e)   history (B, L) with lengths (B)   out (B, e)
/// ```
/// The same pooling as TensorCore's `EmbeddingBag` with `.mean` (the tests use it as the
/// reference), on the padded layout the sequence encoders share.
public enum MaskedMean {
    /// Writes the pooled rows into `output` `(B, e)`, resizing it.
    /// - Complexity: `Σ_b n_b · e` adds.
    public static func forward(table: Tensor, history: HistoryBatch, output: inout Tensor) {
        let (n, e) = table.matrixShape("MaskedMean.forward", "table")
        let l = history.maxLength
        output.resize(rows: history.count, columns: e)
        table.withUnsafeBufferPointer { t in
            output.withUnsafeMutableBufferPointer { out in
                for b in 0..<history.count {
                    let base = b * e, len = Int(history.lengths[b])
                    for j in 0..<e { out[base + j] = 0 }
                    for pos in 0..<len {
                        let row = Int(history.ids[b * l + pos])
                        precondition(row >= 0 && row < n, "MaskedMean: id \(row) outside the table's \(n) rows")
                        for j in 0..<e { out[base + j] += t[row * e + j] }
                    }
                    if len > 0 {
                        let inverse = 1 / Float(len)
                        for j in 0..<e { out[base + j] *= inverse }
                    }
                }
            }
        }
    }

    /// Scatter-adds the gradient into the rows each history pooled:
    /// `dTable[ids[b, t], :] += dOut[b, :] / n_b` for `t < n_b`. Accumulates.
    public static func backward(history: HistoryBatch, dOutput: Tensor, dTable: inout Tensor) {
        let (n, e) = dTable.matrixShape("MaskedMean.backward", "dTable")
        let l = history.maxLength
        precondition(dOutput.shape == [history.count, e],
                     "MaskedMean.backward: dOutput \(dOutput.shape), expected [\(history.count), \(e)]")
        dOutput.withUnsafeBufferPointer { dOut in
            dTable.withUnsafeMutableBufferPointer { dt in
                for b in 0..<history.count {
                    let len = Int(history.lengths[b])
                    guard len > 0 else { continue }
                    let weight = 1 / Float(len)
                    for pos in 0..<len {
                        let row = Int(history.ids[b * l + pos])
                        precondition(row >= 0 && row < n, "MaskedMean: id \(row) outside the table's \(n) rows")
                        for j in 0..<e { dt[row * e + j] += weight * dOut[b * e + j] }
                    }
                }
            }
        }
    }
}
