import TensorCore

/// How an ``EncodedBatch`` becomes the network input `x`:
///
/// ```
/// x = [ e(cat_1) | … | e(cat_Fc) | pool(multi_1) | … | pool(multi_Fm) | numeric ]   (B, D)
/// D = (Fc + Fm) · d + Fn
/// ```
/// Every categorical and multi-categorical value indexes one embedding table of width `d`
/// (keys are hashes of *(feature, value)*, so features never collide).
public struct InputLayout: Sendable, Equatable {
    /// `Fc`.
    public var categoricalCount: Int
    /// Pooling of each multi-categorical feature (`Fm` entries).
    public var multiCategoricalPooling: [EmbeddingBag.Pooling]
    /// `Fn`.
    public var numericCount: Int
    /// `d`.
    public var embeddingDimension: Int
    /// Multi-categorical columns whose pool passes no gradient to the embedding rows (a
    /// stop-gradient: the rows are read, not trained, through these pools). Default none.
    public var stopsGradient: Set<Int> = []

    public init(categoricalCount: Int, multiCategoricalPooling: [EmbeddingBag.Pooling], numericCount: Int, embeddingDimension: Int) {
        precondition(categoricalCount >= 0 && numericCount >= 0 && embeddingDimension > 0,
                     "InputLayout: Fc \(categoricalCount), Fn \(numericCount), d \(embeddingDimension)")
        self.categoricalCount = categoricalCount
        self.multiCategoricalPooling = multiCategoricalPooling
        self.numericCount = numericCount
        self.embeddingDimension = embeddingDimension
    }

    /// `D`.
    public var width: Int { (categoricalCount + multiCategoricalPooling.count) * embeddingDimension + numericCount }
    /// First column of the numeric block.
    public var numericColumn: Int { (categoricalCount + multiCategoricalPooling.count) * embeddingDimension }
}

/// The batch's embedding rows, pulled once per batch: `U` unique keys, their `(U, d)` rows,
/// and per feature the local row indices each batch row reads.
package struct InputWorkspace: Sendable {
    /// The batch's unique keys, in first-seen order; row `u` of ``rows`` belongs to `keys[u]`.
    package var keys: [UInt64] = []
    /// `(U, d)` embedding rows of ``keys``.
    package var rows = Tensor(shape: [0, 1])
    /// `(U, d)` gradient of ``rows`` after backward.
    package var dRows = Tensor(shape: [0, 1])
    /// Open-addressing table (linear probing) from key to its row in ``keys``: `tableSlots[i]`
    /// is −1 (empty) or a row whose key hashes to `i` or before. Keys are already
    /// fmix64-finalised, so their low bits index it directly; cheaper than a `Dictionary`,
    /// whose hashing re-mixes every key, and reused across batches.
    var tableSlots: [Int32] = []
    /// Per categorical feature: local ids `(B)`; bags have one id per row.
    var categoricalIDs: [[Int32]] = []
    /// Per multi-categorical feature: local ids of all the batch's values.
    var multiIDs: [[Int32]] = []
    var bag = Tensor(shape: [0, 1])
    var dBag = Tensor(shape: [0, 1])

    // The folded first layer's index (``InputLayer/indexUnits(rows:layout:workspace:)``): a *unit*
    // is one distinct row of one categorical feature in the batch.
    /// Per unit: its row in ``rows``.
    var unitSlots: [Int32] = []
    /// Per unit: the first of the `d` first-layer weight rows that multiply it (`f·d`).
    var unitWeightRows: [Int32] = []
    /// `(Fc, B)` feature-major: the unit of row `b`'s value of feature `f`.
    var unitOfValue: [Int32] = []
    /// The batch rows reading each unit, unit by unit (`B·Fc` entries, rows ascending within a
    /// unit); unit `u`'s are `unitMembers[unitMemberOffsets[u] ..< unitMemberOffsets[u + 1]]`.
    var unitMembers: [Int32] = []
    var unitMemberOffsets: [Int32] = []
    /// Scratch per row of ``rows``: its unit in the feature being indexed, and that feature.
    var slotUnit: [Int32] = []
    var slotFeature: [Int32] = []

    /// Number of units of the last ``InputLayer/indexUnits(rows:layout:workspace:)``.
    package var unitCount: Int { unitSlots.count }

    package init() {}
}

/// Forward and backward of the input layer.
package enum InputLayer {
    /// Pulls the batch's embedding rows and writes `x` `(B, D)`.
    ///
    /// - Parameter create: training creates rows for unseen keys; inference reads them as zeros.
    package static func forward(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, create: Bool,
        workspace ws: inout InputWorkspace, output x: inout Tensor
    ) {
        pull(batch: batch, layout: layout, table: table, create: create, workspace: &ws)
        writeInput(batch: batch, layout: layout, workspace: &ws, output: &x)
    }

    /// Collects the batch's unique keys and pulls their embedding rows into ``InputWorkspace/rows``.
    ///
    /// - Parameter create: training creates rows for unseen keys; inference reads them as zeros.
    package static func pull(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, create: Bool,
        workspace ws: inout InputWorkspace
    ) {
        let d = layout.embeddingDimension
        precondition(batch.categoricalWidth == layout.categoricalCount
                     && batch.multiCategoricalWidth == layout.multiCategoricalPooling.count
                     && batch.numericWidth == layout.numericCount,
                     "InputLayer: batch widths (\(batch.categoricalWidth), \(batch.multiCategoricalWidth), \(batch.numericWidth)) do not match layout")
        precondition(table.dimension == d, "InputLayer: table dimension \(table.dimension) != layout d \(d)")
        collectKeys(batch: batch, layout: layout, workspace: &ws)
        ws.rows.resize(rows: ws.keys.count, columns: d)
        ws.keys.withUnsafeBufferPointer { keys in
            ws.rows.withUnsafeMutableBufferPointer { rows in
                table.pull(keys: keys, into: rows, create: create)
            }
        }
    }

    /// Writes `x` `(B, D)` from the rows of the last ``pull(batch:layout:table:create:workspace:)``.
    static func writeInput(batch: EncodedBatch, layout: InputLayout, workspace ws: inout InputWorkspace, output x: inout Tensor) {
        let b = batch.count, d = layout.embeddingDimension
        x.resize(rows: b, columns: layout.width)
        // A categorical feature has one key per row: its embedding row is copied straight into
        // its column block of x (the sum pooling of one row, without the bag in between).
        let width = layout.width
        ws.rows.withUnsafeBufferPointer { rows in
            x.withUnsafeMutableBufferPointer { dst in
                for f in 0..<layout.categoricalCount {
                    ws.categoricalIDs[f].withUnsafeBufferPointer { ids in
                        for r in 0..<b {
                            copyRow(from: rows.baseAddress! + Int(ids[r]) * d, to: dst.baseAddress! + r * width + f * d, count: d)
                        }
                    }
                }
            }
        }
        writeBagsAndNumeric(batch: batch, layout: layout, workspace: &ws, into: &x, atColumn: layout.categoricalCount * d)
    }

    /// Writes the pooled multi-categorical blocks, then the numeric columns, of every row into
    /// `output` from column `first` on: `x`'s last `Fm·d + Fn` columns, or all of the folded
    /// layers' `rest`.
    static func writeBagsAndNumeric(batch: EncodedBatch, layout: InputLayout, workspace ws: inout InputWorkspace,
                                    into output: inout Tensor, atColumn first: Int) {
        let b = batch.count, d = layout.embeddingDimension, width = output.columns
        if !layout.multiCategoricalPooling.isEmpty { ws.bag.resize(rows: b, columns: d) }
        for (m, pooling) in layout.multiCategoricalPooling.enumerated() {
            EmbeddingBag.forward(table: ws.rows, offsets: batch.multiCategorical[m].offsets, ids: ws.multiIDs[m], pooling: pooling,
                                 weights: batch.multiCategorical[m].weights, output: &ws.bag)
            ColumnBlock.copy(ws.bag, into: &output, atColumn: first + m * d)
        }
        let fn = layout.numericCount, column = first + layout.multiCategoricalPooling.count * d
        if fn > 0 {
            batch.numeric.withUnsafeBufferPointer { src in
                output.withUnsafeMutableBufferPointer { dst in
                    for r in 0..<b {
                        for j in 0..<fn { dst[r * width + column + j] = src[r * fn + j] }
                    }
                }
            }
        }
    }

    /// Adds the pooled blocks' share of `dOutput` (their columns from `first` on) to
    /// ``InputWorkspace/dRows``.
    static func backwardBags(batch: EncodedBatch, layout: InputLayout, dOutput: Tensor, atColumn first: Int,
                             workspace ws: inout InputWorkspace) {
        let d = layout.embeddingDimension
        if !layout.multiCategoricalPooling.isEmpty { ws.dBag.resize(to: [batch.count, d]) }
        for (m, pooling) in layout.multiCategoricalPooling.enumerated() where !layout.stopsGradient.contains(m) {
            ws.dBag.fill(0)
            ColumnBlock.accumulate(from: dOutput, atColumn: first + m * d, into: &ws.dBag)
            EmbeddingBag.backward(offsets: batch.multiCategorical[m].offsets, ids: ws.multiIDs[m], pooling: pooling,
                                  weights: batch.multiCategorical[m].weights, dOutput: ws.dBag, dTable: &ws.dRows)
        }
    }

    /// Turns `∂L/∂x` into `∂L/∂rows` (`ws.dRows`, `(U, d)`, overwritten) for ``InputWorkspace/keys``.
    package static func backward(batch: EncodedBatch, layout: InputLayout, dInput: Tensor, workspace ws: inout InputWorkspace) {
        let b = batch.count, d = layout.embeddingDimension, width = layout.width, u = ws.keys.count
        precondition(dInput.shape == [b, width], "InputLayer.backward: dInput \(dInput.shape), expected [\(b), \(width)]")
        ws.dRows.resize(to: [u, d], zeroed: true)
        // A categorical feature's block of x is a copy of its key's row (forward), so the
        // block's gradient is added straight to that row: no bag, no column copy in between.
        dInput.withUnsafeBufferPointer { dx in
            ws.dRows.withUnsafeMutableBufferPointer { dRows in
                for f in 0..<layout.categoricalCount {
                    ws.categoricalIDs[f].withUnsafeBufferPointer { ids in
                        precondition(ids.count == b, "InputLayer.backward: \(ids.count) key slots for \(b) rows (not the forward's batch)")
                        for r in 0..<b {
                            let id = Int(ids[r])
                            precondition(id >= 0 && id < u, "InputLayer.backward: key slot \(id) outside \(u) rows")
                            VectorAdd.add(dx.baseAddress! + r * width + f * d, into: dRows.baseAddress! + id * d, count: d)
                        }
                    }
                }
            }
        }
        backwardBags(batch: batch, layout: layout, dOutput: dInput, atColumn: layout.categoricalCount * d, workspace: &ws)
    }

    /// Copies one embedding row: 16 floats at a time in registers (a `memmove` call per 64-byte
    /// row cost more than the copy; a request copies one row per categorical value).
    @inline(__always)
    private static func copyRow(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count d: Int) {
        var j = 0
        while j + 16 <= d {
            UnsafeMutableRawPointer(destination + j).storeBytes(
                of: UnsafeRawPointer(source + j).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
            j += 16
        }
        while j < d {
            destination[j] = source[j]
            j += 1
        }
    }

    /// Deduplicates the batch's keys into ``InputWorkspace/keys`` and maps each value to its slot.
    private static func collectKeys(batch: EncodedBatch, layout: InputLayout, workspace ws: inout InputWorkspace) {
        ws.keys.removeAll(keepingCapacity: true)
        let fc = layout.categoricalCount, b = batch.count
        let fm = layout.multiCategoricalPooling.count
        var values = b * fc
        for m in 0..<fm { values += batch.multiCategorical[m].keys.count }
        // Load factor ≤ 1/2.
        var size = 16
        while size < 2 * values { size <<= 1 }
        if ws.tableSlots.count != size {
            ws.tableSlots.removeAll(keepingCapacity: true)
            ws.tableSlots.append(contentsOf: repeatElement(-1, count: size))
        } else {
            ws.tableSlots.withUnsafeMutableBufferPointer { $0.update(repeating: -1) }
        }
        if ws.keys.capacity < values { ws.keys.reserveCapacity(values) }
        if ws.categoricalIDs.count != fc { ws.categoricalIDs = Array(repeating: [], count: fc) }
        if ws.multiIDs.count != fm { ws.multiIDs = Array(repeating: [], count: fm) }
        let mask = size - 1
        // The probe loop runs on raw pointers into storage sized above: `keys` holds at most
        // `values` distinct keys, and the table is at most half full, so a probe always ends.
        precondition(values <= Int(Int32.max), "InputLayer: \(values) keys in one batch (slots are 32-bit)")
        var distinct = 0
        ws.keys.append(contentsOf: repeatElement(0, count: values))
        ws.tableSlots.withUnsafeMutableBufferPointer { table in
            ws.keys.withUnsafeMutableBufferPointer { keys in
                @inline(__always) func slot(of key: UInt64) -> Int32 {
                    var i = Int(truncatingIfNeeded: key) & mask
                    while true {
                        let s = table[i]
                        if s < 0 {
                            let new = Int32(truncatingIfNeeded: distinct)
                            table[i] = new
                            keys[distinct] = key
                            distinct += 1
                            return new
                        }
                        if keys[Int(s)] == key { return s }
                        i = (i + 1) & mask
                    }
                }
                batch.categorical.withUnsafeBufferPointer { categorical in
                    for f in 0..<fc {
                        ws.categoricalIDs[f].removeAll(keepingCapacity: true)
                        ws.categoricalIDs[f].append(contentsOf: repeatElement(0, count: b))
                        ws.categoricalIDs[f].withUnsafeMutableBufferPointer { ids in
                            for r in 0..<b { ids[r] = slot(of: categorical[r * fc + f]) }
                        }
                    }
                }
                for m in 0..<fm {
                    ws.multiIDs[m].removeAll(keepingCapacity: true)
                    ws.multiIDs[m].append(contentsOf: repeatElement(0, count: batch.multiCategorical[m].keys.count))
                    ws.multiIDs[m].withUnsafeMutableBufferPointer { ids in
                        for (i, key) in batch.multiCategorical[m].keys.enumerated() { ids[i] = slot(of: key) }
                    }
                }
            }
        }
        ws.keys.removeLast(values - distinct)
    }
}
