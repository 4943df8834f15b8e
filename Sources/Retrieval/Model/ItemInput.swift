import TensorCore

/// The item tower's input rows: an item's id embedding next to its fixed content features
/// (genres as a normalised multi-hot vector).
///
/// ```
/// x[b, :] = [ table[ids[b], :] | features[ids[b], :] ]        table (N, e), features (N, G), x (B, e + G)
/// dTable[ids[b], :] += dx[b, 0..<e]                            (features are data: no gradient)
/// ```
public enum ItemInput {
    /// Writes `x`, resized to `(B, e + G)`. `features` may have `G = 0` columns.
    public static func forward(table: Tensor, features: Tensor, ids: [Int32], output x: inout Tensor) {
        let (n, e) = table.matrixShape("ItemInput.forward", "table")
        let (nf, g) = features.matrixShape("ItemInput.forward", "features")
        precondition(nf == n, "ItemInput.forward: table has \(n) rows, features \(nf)")
        let w = e + g
        x.resize(rows: ids.count, columns: w)
        Borrow.update(&x) { out in
            Borrow.read(table, features) { t, f in
                for (b, id) in ids.enumerated() {
                    let row = Int(id)
                    precondition(row >= 0 && row < n, "ItemInput: id \(row) outside the catalogue's \(n) items")
                    (out + b * w).update(from: t + row * e, count: e)
                    if g > 0 { (out + b * w + e).update(from: f + row * g, count: g) }
                }
            }
        }
    }

    /// Scatter-adds the embedding columns of `dx` `(B, e + G)` into `dTable` `(N, e)`. Accumulates.
    public static func backward(ids: [Int32], dOutput dx: Tensor, dTable: inout Tensor) {
        let (n, e) = dTable.matrixShape("ItemInput.backward", "dTable")
        let (rows, w) = dx.matrixShape("ItemInput.backward", "dOutput")
        precondition(rows == ids.count && w >= e, "ItemInput.backward: dOutput \(dx.shape) for \(ids.count) ids, e = \(e)")
        Borrow.update(&dTable) { dt in
            Borrow.read(dx) { g in
                for (b, id) in ids.enumerated() {
                    let row = Int(id)
                    precondition(row >= 0 && row < n, "ItemInput: id \(row) outside the catalogue's \(n) items")
                    for j in 0..<e { dt[row * e + j] += g[b * w + j] }
                }
            }
        }
    }
}
