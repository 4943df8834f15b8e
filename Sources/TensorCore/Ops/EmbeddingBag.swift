/// Embedding bag over a local dense table — the batch's unique rows, pulled from the
/// key-value store — pooling a variable-length list of rows per output row:
///
/// ```
/// out[b, :] = pool_{i ∈ offsets[b] ..< offsets[b+1]} table[ids[i], :]
/// sum:  pool = Σ        mean: pool = (1/n_b)·Σ,  n_b = offsets[b+1] − offsets[b]
/// weighted: pool = Σ_i w_i · table[ids[i], :]     (w: one weight per id, given by the caller)
/// empty bag (n_b = 0) → zeros
/// table: (U, d)   offsets: B + 1 Int32, non-decreasing, within 0 ... ids.count
/// ids: Int32 row indices into table, each in 0 ..< U   out: (B, d)
/// ```
///
/// A single-valued categorical feature is the special case `offsets = 0...B`.
public enum EmbeddingBag {
    /// How a bag's rows are combined.
    public enum Pooling: Sendable {
        /// `Σ` of the bag's rows.
        case sum
        /// `Σ / n` of the bag's rows.
        case mean
        /// `Σ_i w_i · row_i` with a caller-given weight per id (`weights`, as long as `ids`): the
        /// support encoder's mean (`w_i = 1/n`) and label-weighted (`w_i = (y_i − ȳ)/n`) pools.
        case weighted
    }

    /// Pools each bag's table rows into `output`, overwriting it.
    ///
    /// - Parameters:
    ///   - table: `(U, d)`.
    ///   - offsets: `B + 1` bag boundaries into `ids`.
    ///   - ids: row indices into `table`; repeats are allowed (a row pooled twice counts twice).
    ///   - weights: one weight per id for `.weighted` (ignored otherwise, may be empty).
    ///   - output: `(B, d)`, already allocated; its old contents are ignored.
    /// - Complexity: `ids.count · d` adds.
    public static func forward(
        table: Tensor, offsets: [Int32], ids: [Int32], pooling: Pooling, weights: [Float] = [], output: inout Tensor
    ) {
        let (u, d) = table.requireMatrix("EmbeddingBag.forward", "table")
        let b = checkOffsets(offsets, idCount: ids.count, "EmbeddingBag.forward")
        checkWeights(weights, idCount: ids.count, pooling: pooling, "EmbeddingBag.forward")
        precondition(
            output.shape == [b, d],
            "EmbeddingBag.forward: table \(table.shape), \(offsets.count) offsets need output [\(b), \(d)], got \(output.shape)")
        table.withUnsafeBufferPointer { t in
            output.withUnsafeMutableBufferPointer { out in
                for bag in 0..<b {
                    let base = bag * d
                    for j in 0..<d { out[base + j] = 0 }
                    let start = Int(offsets[bag]), end = Int(offsets[bag + 1])
                    for i in start..<end {
                        let row = checkedRow(ids[i], at: i, rows: u)
                        let w: Float = pooling == .weighted ? weights[i] : 1
                        for j in 0..<d { out[base + j] += w * t[row * d + j] }
                    }
                    if pooling == .mean && end > start {
                        let inverse = 1 / Float(end - start)
                        for j in 0..<d { out[base + j] *= inverse }
                    }
                }
            }
        }
    }

    /// Scatter-adds each bag's output gradient into the rows it pooled:
    ///
    /// ```
    /// dTable[ids[i], :] += dOut[b, :] · (1 for sum, 1/n_b for mean, w_i for weighted)     i ∈ bag b
    /// ```
    ///
    /// Repeated ids (within one bag or across bags) accumulate; rows never referenced are
    /// untouched. `dTable` is `(U, d)`, `dOutput` is `(B, d)`.
    public static func backward(
        offsets: [Int32], ids: [Int32], pooling: Pooling, weights: [Float] = [], dOutput: Tensor, dTable: inout Tensor
    ) {
        let (u, d) = dTable.requireMatrix("EmbeddingBag.backward", "dTable")
        let b = checkOffsets(offsets, idCount: ids.count, "EmbeddingBag.backward")
        checkWeights(weights, idCount: ids.count, pooling: pooling, "EmbeddingBag.backward")
        precondition(
            dOutput.shape == [b, d],
            "EmbeddingBag.backward: dTable \(dTable.shape), \(offsets.count) offsets need dOutput [\(b), \(d)], got \(dOutput.shape)")
        dOutput.withUnsafeBufferPointer { dOut in
            dTable.withUnsafeMutableBufferPointer { dt in
                for bag in 0..<b {
                    let base = bag * d
                    let start = Int(offsets[bag]), end = Int(offsets[bag + 1])
                    let weight: Float = pooling == .mean && end > start ? 1 / Float(end - start) : 1
                    for i in start..<end {
                        let row = checkedRow(ids[i], at: i, rows: u)
                        let w = pooling == .weighted ? weights[i] : weight
                        for j in 0..<d { dt[row * d + j] += w * dOut[base + j] }
                    }
                }
            }
        }
    }

    /// Validates the bag boundaries once per call; returns the bag count `B`.
    private static func checkOffsets(_ offsets: [Int32], idCount: Int, _ op: StaticString) -> Int {
        precondition(!offsets.isEmpty, "\(op): offsets must hold B + 1 boundaries, got none")
        var previous: Int32 = 0
        for (bag, offset) in offsets.enumerated() {
            precondition(
                offset >= previous && Int(offset) <= idCount,
                "\(op): offsets[\(bag)] = \(offset) must be in \(previous) ... \(idCount) (non-decreasing, within \(idCount) ids)")
            previous = offset
        }
        return offsets.count - 1
    }

    /// `.weighted` needs one weight per id.
    private static func checkWeights(_ weights: [Float], idCount: Int, pooling: Pooling, _ op: StaticString) {
        precondition(pooling != .weighted || weights.count == idCount,
                     "\(op): weighted pooling needs one weight per id: \(weights.count) weights, \(idCount) ids")
    }

    // One comparison per pooled row (not per element): the table is read through an unchecked
    // pointer, so an out-of-range id must trap here rather than read foreign memory.
    @inline(__always)
    private static func checkedRow(_ id: Int32, at i: Int, rows: Int) -> Int {
        precondition(id >= 0 && Int(id) < rows, "EmbeddingBag: ids[\(i)] = \(id) is out of the table's \(rows) rows")
        return Int(id)
    }
}
