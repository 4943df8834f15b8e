import TensorCore

/// Looks up the history items' embedding rows into a time-major sequence for a recurrent
/// encoder; padding positions become zero rows.
///
/// ```
/// x[t, b, :] = table[ids[b, t], :]   if t < n_b,  else 0
/// table (N, e)   history (B, L)   x (L·B, e) time-major: row t·B + b
/// ```
public enum SequenceGather {
    /// Writes the sequence into `output`, resizing it to `(L·B, e)`.
    public static func forward(table: Tensor, history: HistoryBatch, output: inout Tensor) {
        let (n, e) = table.matrixShape("SequenceGather.forward", "table")
        let l = history.maxLength, count = history.count
        output.resize(rows: l * count, columns: e)
        table.withUnsafeBufferPointer { t in
            output.withUnsafeMutableBufferPointer { x in
                for b in 0..<count {
                    let len = Int(history.lengths[b])
                    for pos in 0..<l {
                        let base = (pos * count + b) * e
                        guard pos < len else {
                            for j in 0..<e { x[base + j] = 0 }
                            continue
                        }
                        let row = Int(history.ids[b * l + pos])
                        precondition(row >= 0 && row < n, "SequenceGather: id \(row) outside the table's \(n) rows")
                        for j in 0..<e { x[base + j] = t[row * e + j] }
                    }
                }
            }
        }
    }

    /// `dTable[ids[b, t], :] += dX[t, b, :]` for `t < n_b` (padding positions send nothing).
    public static func backward(history: HistoryBatch, dOutput: Tensor, dTable: inout Tensor) {
        let (n, e) = dTable.matrixShape("SequenceGather.backward", "dTable")
        let l = history.maxLength, count = history.count
        precondition(dOutput.shape == [l * count, e],
                     "SequenceGather.backward: dOutput \(dOutput.shape), expected [\(l * count), \(e)]")
        dOutput.withUnsafeBufferPointer { dx in
            dTable.withUnsafeMutableBufferPointer { dt in
                for b in 0..<count {
                    for pos in 0..<Int(history.lengths[b]) {
                        let row = Int(history.ids[b * l + pos]), base = (pos * count + b) * e
                        precondition(row >= 0 && row < n, "SequenceGather: id \(row) outside the table's \(n) rows")
                        for j in 0..<e { dt[row * e + j] += dx[base + j] }
                    }
                }
            }
        }
    }
}
