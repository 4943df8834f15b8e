/// A batch of `B` encoded rows: the input every model, trainer and predictor consumes.
///
/// Rows arrive here from CSV logs (training, evaluation) or JSON requests (serving) through
/// ``FeatureEncoder``; nothing downstream sees raw strings. Categorical values are already
/// hashed to 64-bit keys (see ``FeatureKey``), numeric values already normalised.
///
/// Layout (all row-major, `B = count`):
/// ```
/// categorical       (B, Fc)  key of categorical feature f of row b at [b * Fc + f]
/// multiCategorical  Fm columns, each with offsets (B + 1) into its keys
/// numeric           (B, Fn)  normalised values
/// labels            (B, K)   one column per label/task in config order; NaN = missing
/// taskKeys          (B)      hashed value of the task-key column (user, crowd, scene, …)
/// timestamps        (B)      seconds; 0 when the config has no time column
/// ```
public struct EncodedBatch: Sendable, Equatable {
    /// Number of rows `B`.
    public private(set) var count: Int
    /// Categorical feature count `Fc`.
    public let categoricalWidth: Int
    /// Numeric feature count `Fn`.
    public let numericWidth: Int
    /// Label (task) count `K`.
    public let labelWidth: Int

    public var categorical: [UInt64]                 // (B, Fc)
    public var multiCategorical: [MultiCategoricalColumn]  // Fm columns
    public var numeric: [Float]                      // (B, Fn)
    public var labels: [Float]                       // (B, K), NaN = missing
    public var taskKeys: [UInt64]                    // (B)
    public var timestamps: [Int64]                   // (B)

    /// An empty batch with the given widths.
    public init(categoricalWidth: Int, multiCategoricalWidth: Int, numericWidth: Int, labelWidth: Int) {
        self.count = 0
        self.categoricalWidth = categoricalWidth
        self.numericWidth = numericWidth
        self.labelWidth = labelWidth
        self.categorical = []
        self.multiCategorical = Array(repeating: MultiCategoricalColumn(), count: multiCategoricalWidth)
        self.numeric = []
        self.labels = []
        self.taskKeys = []
        self.timestamps = []
    }

    /// Multi-categorical feature count `Fm`.
    public var multiCategoricalWidth: Int { multiCategorical.count }

    /// Appends one row. Array arguments must have the batch's widths.
    public mutating func append(
        categorical rowCategorical: some Collection<UInt64>,
        multiCategorical rowMulti: [[UInt64]],
        numeric rowNumeric: some Collection<Float>,
        labels rowLabels: some Collection<Float>,
        taskKey: UInt64, timestamp: Int64
    ) {
        precondition(rowCategorical.count == categoricalWidth, "append: \(rowCategorical.count) categorical values, width \(categoricalWidth)")
        precondition(rowMulti.count == multiCategoricalWidth, "append: \(rowMulti.count) multi-categorical lists, width \(multiCategoricalWidth)")
        precondition(rowNumeric.count == numericWidth, "append: \(rowNumeric.count) numeric values, width \(numericWidth)")
        precondition(rowLabels.count == labelWidth, "append: \(rowLabels.count) labels, width \(labelWidth)")
        categorical.append(contentsOf: rowCategorical)
        for (f, keys) in rowMulti.enumerated() { multiCategorical[f].append(keys) }
        numeric.append(contentsOf: rowNumeric)
        labels.append(contentsOf: rowLabels)
        taskKeys.append(taskKey)
        timestamps.append(timestamp)
        count += 1
    }

    /// The rows at `indices`, in that order (grouping by task, shuffling, splitting).
    public func selecting(rows indices: some Collection<Int>) -> EncodedBatch {
        let rows = Array(indices)  // once: `indices` may be an unspecialised generic collection here
        for i in rows { precondition(i >= 0 && i < count, "selecting: row \(i) out of \(count)") }
        // The columns are public: the byte copies below read `count` rows of each.
        precondition(categorical.count == count * categoricalWidth && numeric.count == count * numericWidth
                     && labels.count == count * labelWidth && taskKeys.count == count && timestamps.count == count,
                     "selecting: a column's length does not match \(count) rows")
        var out = EncodedBatch(
            categoricalWidth: categoricalWidth, multiCategoricalWidth: multiCategoricalWidth,
            numericWidth: numericWidth, labelWidth: labelWidth)
        // Fixed-width columns row by row as bytes: a slice append per row and column (retain,
        // uniqueness check, a call to copy a few bytes) cost more than the copy itself.
        out.categorical = [UInt64](repeating: 0, count: rows.count * categoricalWidth)
        out.numeric = [Float](repeating: 0, count: rows.count * numericWidth)
        out.labels = [Float](repeating: 0, count: rows.count * labelWidth)
        out.taskKeys = [UInt64](repeating: 0, count: rows.count)
        out.timestamps = [Int64](repeating: 0, count: rows.count)
        rows.withUnsafeBufferPointer { rows in
            categorical.withUnsafeBytes { src in out.categorical.withUnsafeMutableBytes { Self.gather(src, rows, into: $0) } }
            numeric.withUnsafeBytes { src in out.numeric.withUnsafeMutableBytes { Self.gather(src, rows, into: $0) } }
            labels.withUnsafeBytes { src in out.labels.withUnsafeMutableBytes { Self.gather(src, rows, into: $0) } }
            taskKeys.withUnsafeBytes { src in out.taskKeys.withUnsafeMutableBytes { Self.gather(src, rows, into: $0) } }
            timestamps.withUnsafeBytes { src in out.timestamps.withUnsafeMutableBytes { Self.gather(src, rows, into: $0) } }
        }
        for f in 0..<multiCategoricalWidth {
            for i in rows { out.multiCategorical[f].append(row: i, of: multiCategorical[f]) }
        }
        out.count = rows.count
        return out
    }

    /// Copies row `rows[k]` of the row-major `source` to row `k` of `destination`; the row size
    /// is `destination.count / rows.count` bytes (rows already range-checked). Runs of
    /// consecutive rows are copied in one call: a worker's shard of a batch is one run.
    private static func gather(_ source: UnsafeRawBufferPointer, _ rows: UnsafeBufferPointer<Int>,
                               into destination: UnsafeMutableRawBufferPointer) {
        guard !rows.isEmpty, destination.count > 0 else { return }
        let rowBytes = destination.count / rows.count
        var k = 0
        while k < rows.count {
            var end = k + 1
            while end < rows.count, rows[end] == rows[end - 1] + 1 { end += 1 }
            (destination.baseAddress! + k * rowBytes).copyMemory(from: source.baseAddress! + rows[k] * rowBytes,
                                                                 byteCount: (end - k) * rowBytes)
            k = end
        }
    }

    /// Appends every row of `other` (same widths).
    public mutating func append(contentsOf other: EncodedBatch) {
        precondition(
            other.categoricalWidth == categoricalWidth && other.numericWidth == numericWidth
                && other.labelWidth == labelWidth && other.multiCategoricalWidth == multiCategoricalWidth,
            "append(contentsOf:): batch widths differ")
        categorical += other.categorical
        for f in 0..<multiCategoricalWidth {
            for r in 0..<other.count { multiCategorical[f].append(row: r, of: other.multiCategorical[f]) }
        }
        numeric += other.numeric
        labels += other.labels
        taskKeys += other.taskKeys
        timestamps += other.timestamps
        count += other.count
    }

    /// Removes every row, keeping capacity (workspace reuse).
    public mutating func removeAll() {
        count = 0
        categorical.removeAll(keepingCapacity: true)
        for f in 0..<multiCategoricalWidth { multiCategorical[f].removeAll() }
        numeric.removeAll(keepingCapacity: true)
        labels.removeAll(keepingCapacity: true)
        taskKeys.removeAll(keepingCapacity: true)
        timestamps.removeAll(keepingCapacity: true)
    }

    /// Removes rows `row ..< count` (undoing a partly appended run of rows).
    public mutating func removeRows(from row: Int) {
        precondition(row >= 0 && row <= count, "removeRows(from: \(row)) of \(count) rows")
        categorical.removeLast(categorical.count - row * categoricalWidth)
        for f in 0..<multiCategoricalWidth { multiCategorical[f].removeRows(from: row) }
        numeric.removeLast(numeric.count - row * numericWidth)
        labels.removeLast(labels.count - row * labelWidth)
        taskKeys.removeLast(taskKeys.count - row)
        timestamps.removeLast(timestamps.count - row)
        count = row
    }

    /// Ends a row whose categorical, multi-categorical (``MultiCategoricalColumn/endRow()``),
    /// numeric and label values the caller appended to the arrays directly
    /// (``FeatureEncoder/encodeRow(typed:into:)``).
    package mutating func endRow(taskKey: UInt64, timestamp: Int64) {
        taskKeys.append(taskKey)
        timestamps.append(timestamp)
        count += 1
    }

    /// Appends `rows` rows of zeros to the fixed-width columns (categorical, numeric, labels,
    /// task keys, timestamps) for the caller to fill in place; the multi-categorical columns
    /// get these rows' keys from the caller (``FeatureEncoder/encodeColumns(_:rows:into:)``).
    package mutating func appendZeroedRows(_ rows: Int) {
        categorical.append(contentsOf: repeatElement(0, count: rows * categoricalWidth))
        numeric.append(contentsOf: repeatElement(0, count: rows * numericWidth))
        labels.append(contentsOf: repeatElement(0, count: rows * labelWidth))
        taskKeys.append(contentsOf: repeatElement(0, count: rows))
        timestamps.append(contentsOf: repeatElement(0, count: rows))
        count += rows
    }

    /// Reserves room for `rows` rows, at least doubling the room when it grows (a batch filled
    /// chunk by chunk reallocates O(log B) times, not once per chunk).
    package mutating func reserveGrowing(rows: Int) {
        guard taskKeys.capacity < rows else { return }
        reserveCapacity(max(rows, 2 * taskKeys.capacity))
    }

    /// Reserves room for `rows` rows.
    public mutating func reserveCapacity(_ rows: Int) {
        categorical.reserveCapacity(rows * categoricalWidth)
        numeric.reserveCapacity(rows * numericWidth)
        labels.reserveCapacity(rows * labelWidth)
        taskKeys.reserveCapacity(rows)
        timestamps.reserveCapacity(rows)
    }

    /// Label `k` of row `b` (NaN when missing).
    public func label(row b: Int, task k: Int) -> Float { labels[b * labelWidth + k] }
}

extension EncodedBatch {
    /// Each row's scene: the index in `sceneKeys` of its key in categorical column `column`, or −1
    /// for a key not listed (an unknown scene), into `scenes` `(B)`. The one lookup behind
    /// ``SceneExperts``, ``StarTowers`` and ``PartitionedNormalization``; `owner` names the caller
    /// in the precondition's message.
    public func sceneIndices(column: Int, sceneKeys: [UInt64], into scenes: inout [Int32], owner: StaticString) {
        precondition(column < categoricalWidth, "\(owner): scene column \(column) of \(categoricalWidth) categorical columns")
        scenes.removeAll(keepingCapacity: true)
        for b in 0..<count {
            scenes.append(Int32(sceneKeys.firstIndex(of: categorical[b * categoricalWidth + column]) ?? -1))
        }
    }
}

/// One multi-categorical feature over a batch: row `b`'s keys are `keys[offsets[b]..<offsets[b+1]]`.
///
/// A *weighted* column (the support encoder's pools, ``SupportEncoder``) also holds one weight
/// per key, `weights[i]` for `keys[i]`; an unweighted column's `weights` is empty (so is a
/// weighted column's while all its bags are empty).
public struct MultiCategoricalColumn: Sendable, Equatable {
    /// `B + 1` offsets into ``keys``; `offsets[0] == 0`.
    public private(set) var offsets: [Int32] = [0]
    /// All rows' keys, concatenated.
    public private(set) var keys: [UInt64] = []
    /// One weight per key (weighted columns), or empty.
    public private(set) var weights: [Float] = []

    public init() {}

    /// Appends one row's keys (possibly none) to an unweighted column.
    public mutating func append(_ rowKeys: some Collection<UInt64>) {
        precondition(weights.isEmpty, "MultiCategoricalColumn.append: the column is weighted; pass weights")
        keys.append(contentsOf: rowKeys)
        offsets.append(Int32(keys.count))
    }

    /// Appends one row's keys with one weight each to a weighted (or still empty) column.
    public mutating func append(_ rowKeys: some Collection<UInt64>, weights rowWeights: some Collection<Float>) {
        precondition(rowKeys.count == rowWeights.count, "MultiCategoricalColumn.append: \(rowKeys.count) keys, \(rowWeights.count) weights")
        precondition(weights.count == keys.count, "MultiCategoricalColumn.append: the column is unweighted")
        keys.append(contentsOf: rowKeys)
        weights.append(contentsOf: rowWeights)
        offsets.append(Int32(keys.count))
    }

    /// Appends row `b` of `other` (keys, and weights when `other` is weighted).
    mutating func append(row b: Int, of other: MultiCategoricalColumn) {
        let range = Int(other.offsets[b])..<Int(other.offsets[b + 1])
        if range.isEmpty {
            offsets.append(Int32(keys.count))
        } else if !other.weights.isEmpty {
            append(other.keys[range], weights: other.weights[range])
        } else {
            append(other.keys[range])
        }
    }

    /// Keys of row `b`.
    public func keys(ofRow b: Int) -> ArraySlice<UInt64> {
        keys[Int(offsets[b])..<Int(offsets[b + 1])]
    }

    public mutating func removeAll() {
        offsets.removeAll(keepingCapacity: true)
        offsets.append(0)
        keys.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
    }

    /// Removes rows `row ...`.
    mutating func removeRows(from row: Int) {
        keys.removeLast(keys.count - Int(offsets[row]))
        if !weights.isEmpty { weights.removeLast(weights.count - Int(offsets[row])) }
        offsets.removeLast(offsets.count - row - 1)
    }

    /// Appends one key to the row being built (closed by ``endRow()``).
    package mutating func appendKey(_ key: UInt64) { keys.append(key) }

    /// Closes the row being built.
    package mutating func endRow() { offsets.append(Int32(keys.count)) }

    /// Replaces each key of row `b` by `transform(key)` (weights and offsets unchanged).
    package mutating func transformKeys(ofRow b: Int, _ transform: (UInt64) -> UInt64) {
        for i in Int(offsets[b])..<Int(offsets[b + 1]) { keys[i] = transform(keys[i]) }
    }
}
