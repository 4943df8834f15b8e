import ModelMath
#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

extension FeatureEncoder {
    /// One value of a typed row (``encodeRow(typed:into:)``): callers that already hold
    /// numbers (JSON requests) pass them as numbers instead of formatting text for the encoder
    /// to parse back.
    public enum Field {
        /// UTF-8 text, read exactly as ``parseRow(_:into:)`` reads a field (the empty text is
        /// the missing value). Categorical, multi-categorical and task-key slots take only text.
        case text(UnsafeRawBufferPointer)
        /// A number for a numeric, label or time slot (must be finite to be accepted).
        case number(Double)
        /// An integer for a numeric, label or time slot (exact for the time column).
        case integer(Int64)
    }

    /// ``encodeRow(_:into:scratch:)`` for typed values: parses one row and appends it to `batch`
    /// (nothing is appended when it throws). Numbers give the same row as their decimal text,
    /// without the text.
    ///
    /// - Parameter fields: one value per slot of ``columns``.
    /// - Throws: ``FeatureEncoderError/invalidValue(column:slot:reason:)`` for the first bad value.
    /// - Complexity: O(bytes of the row's text); no allocation once `batch` has the capacity.
    public func encodeRow(typed fields: UnsafeBufferPointer<Field>, into batch: inout EncodedBatch) throws(FeatureEncoderError) {
        precondition(fields.count == columns.count, "encodeRow(typed:): \(fields.count) fields for \(columns.count) columns")
        let start = batch.count
        do throws(FeatureEncoderError) {
            try appendRow(typed: fields, to: &batch)
        } catch {
            batch.removeRows(from: start)
            throw error
        }
    }

    /// Where one slot's values come from in ``encodeColumns(_:rows:into:)``.
    public enum FieldColumn {
        /// The same value on every row (a request's user, its context, the missing value):
        /// parsed and hashed once.
        case constant(Field)
        /// Row `r`'s value is `values[r]`.
        case values(UnsafePointer<Field>)
    }

    /// Encodes `rows` rows given column by column and appends them to `batch`: the same rows
    /// as `rows` calls of ``encodeRow(typed:into:)``, but each slot is read in one pass over the
    /// rows, and a ``FieldColumn/constant(_:)`` slot is parsed and hashed once for all of them.
    ///
    /// - Parameter slots: one column per slot of ``columns``.
    /// - Returns: `nil`, or the first row that failed and why (its first bad slot in
    ///   ``columns`` order, the error row by row encoding reports); then no row is appended.
    /// - Complexity: O(bytes of the text read); no allocation once `batch` has the capacity.
    public func encodeColumns(
        _ slots: UnsafeBufferPointer<FieldColumn>, rows: Int, into batch: inout EncodedBatch
    ) -> (row: Int, error: FeatureEncoderError)? {
        precondition(slots.count == columns.count, "encodeColumns: \(slots.count) columns of fields for \(columns.count) slots")
        // The columns below are written through pointers at this encoder's widths.
        precondition(batch.categoricalWidth == categoricalPlans.count && batch.numericWidth == numericPlans.count
                     && batch.labelWidth == labelPlans.count && batch.multiCategoricalWidth == multiPlans.count,
                     "encodeColumns: the batch's widths are not this encoder's (use makeBatch())")
        guard rows > 0 else { return nil }
        let start = batch.count
        batch.reserveGrowing(rows: start + rows)
        batch.appendZeroedRows(rows)
        // Each fallible slot stops at its first bad row; the earliest row wins, and on one row
        // the slot met first here, which is the order `appendRow` checks them in.
        var failure: (row: Int, error: FeatureEncoderError)?
        func keep(_ candidate: (row: Int, error: FeatureEncoderError)?) {
            guard let candidate, candidate.row < (failure?.row ?? .max) else { return }
            failure = candidate
        }
        batch.taskKeys.withUnsafeMutableBufferPointer { out in
            _ = Self.fill(slots[taskSlot], rows: rows, into: out.baseAddress! + start, stride: 1) { field in
                taskHasher.hash(Self.text(field, slot: taskSlot))
            }
        }
        if let timeSlot {
            keep(batch.timestamps.withUnsafeMutableBufferPointer { out in
                Self.fill(slots[timeSlot], rows: rows, into: out.baseAddress! + start, stride: 1) { field throws(FeatureEncoderError) in
                    try timestamp(field, slot: timeSlot)
                }
            })
        }
        let fc = categoricalPlans.count
        batch.categorical.withUnsafeMutableBufferPointer { out in
            for (f, plan) in categoricalPlans.enumerated() {
                _ = Self.fill(slots[plan.slot], rows: rows, into: out.baseAddress! + start * fc + f, stride: fc) { field in
                    plan.hasher.hash(Self.text(field, slot: plan.slot))
                }
            }
        }
        appendMultiCategorical(slots, rows: rows, to: &batch)
        if let scenePlan { Self.scope(&batch, rows: start..<(start + rows), plan: scenePlan) }
        let fn = numericPlans.count
        batch.numeric.withUnsafeMutableBufferPointer { out in
            for (f, plan) in numericPlans.enumerated() {
                keep(Self.fill(slots[plan.slot], rows: rows, into: out.baseAddress! + start * fn + f, stride: fn) { field throws(FeatureEncoderError) in
                    normalized(try number(field, slot: plan.slot), plan: plan)
                })
            }
        }
        let fl = labelPlans.count
        batch.labels.withUnsafeMutableBufferPointer { out in
            for (f, plan) in labelPlans.enumerated() {
                keep(Self.fill(slots[plan.slot], rows: rows, into: out.baseAddress! + start * fl + f, stride: fl) { field throws(FeatureEncoderError) in
                    try label(field, plan: plan)
                })
            }
        }
        if failure != nil { batch.removeRows(from: start) }
        return failure
    }

    /// Appends `rows` rows of every multi-categorical feature's keys (a constant column is split
    /// and hashed once, its keys repeated for every row); `rows > 0`. Cannot fail: any text is
    /// a list.
    @inline(__always)
    private func appendMultiCategorical(_ slots: UnsafeBufferPointer<FieldColumn>, rows: Int, to batch: inout EncodedBatch) {
        for (f, plan) in multiPlans.enumerated() {
            switch slots[plan.slot] {
            case .constant(let field):
                // Split and hash once; every row gets the first row's keys.
                let first = batch.multiCategorical[f].keys.count
                Self.split(Self.text(field, slot: plan.slot), separator: plan.separator) { part in
                    batch.multiCategorical[f].appendKey(plan.hasher.hash(part))
                }
                batch.multiCategorical[f].endRow()
                let n = batch.multiCategorical[f].keys.count - first
                for _ in 1..<rows {
                    for i in 0..<n { batch.multiCategorical[f].appendKey(batch.multiCategorical[f].keys[first + i]) }
                    batch.multiCategorical[f].endRow()
                }
            case .values(let values):
                for r in 0..<rows {
                    Self.split(Self.text(values[r], slot: plan.slot), separator: plan.separator) { part in
                        batch.multiCategorical[f].appendKey(plan.hasher.hash(part))
                    }
                    batch.multiCategorical[f].endRow()
                }
            }
        }
    }

    /// Replaces the scene-private keys of `rows` (already hashed) by their scoped keys,
    /// ``FeatureKey/scoped(_:scene:)`` with each row's scene key. The rows' multi-categorical
    /// keys must be closed (their offsets written).
    @inline(__always)
    static func scope(_ batch: inout EncodedBatch, rows: Range<Int>, plan: ScenePlan) {
        let fc = batch.categoricalWidth
        for r in rows {
            let scene = batch.categorical[r * fc + plan.sceneIndex]
            for f in 0..<fc where plan.categorical[f] {
                batch.categorical[r * fc + f] = FeatureKey.scoped(batch.categorical[r * fc + f], scene: scene)
            }
            for f in 0..<plan.multi.count where plan.multi[f] {
                batch.multiCategorical[f].transformKeys(ofRow: r) { FeatureKey.scoped($0, scene: scene) }
            }
        }
    }

    /// Writes `value(field of row r)` to `out[r·stride]` for every row (computed once for a
    /// constant column); returns the first row whose value throws, and stops there.
    @inline(__always)
    private static func fill<T>(
        _ column: FieldColumn, rows: Int, into out: UnsafeMutablePointer<T>, stride: Int,
        _ value: (Field) throws(FeatureEncoderError) -> T
    ) -> (row: Int, error: FeatureEncoderError)? {
        switch column {
        case .constant(let field):
            let x: T
            do throws(FeatureEncoderError) { x = try value(field) } catch { return (0, error) }
            for r in 0..<rows { out[r &* stride] = x }
        case .values(let fields):
            for r in 0..<rows {
                do throws(FeatureEncoderError) { out[r &* stride] = try value(fields[r]) } catch { return (r, error) }
            }
        }
        return nil
    }

    /// One row of ``encodeRow(typed:into:)``; on a throw the row may be partly appended.
    @inline(__always)
    private func appendRow(typed fields: UnsafeBufferPointer<Field>, to batch: inout EncodedBatch) throws(FeatureEncoderError) {
        let taskKey = taskHasher.hash(Self.text(fields[taskSlot], slot: taskSlot))
        let timestamp: Int64 = if let timeSlot { try self.timestamp(fields[timeSlot], slot: timeSlot) } else { 0 }
        let row = batch.count
        for plan in categoricalPlans {
            batch.categorical.append(plan.hasher.hash(Self.text(fields[plan.slot], slot: plan.slot)))
        }
        for (f, plan) in multiPlans.enumerated() {
            Self.split(Self.text(fields[plan.slot], slot: plan.slot), separator: plan.separator) { part in
                batch.multiCategorical[f].appendKey(plan.hasher.hash(part))
            }
            batch.multiCategorical[f].endRow()
        }
        if let scenePlan { Self.scope(&batch, rows: row..<(row + 1), plan: scenePlan) }
        for plan in numericPlans {
            batch.numeric.append(normalized(try number(fields[plan.slot], slot: plan.slot), plan: plan))
        }
        for plan in labelPlans {
            batch.labels.append(try label(fields[plan.slot], plan: plan))
        }
        batch.endRow(taskKey: taskKey, timestamp: timestamp)
    }

    /// A time field's seconds.
    @inline(__always)
    func timestamp(_ field: Field, slot: Int) throws(FeatureEncoderError) -> Int64 {
        switch field {
        case .text(let raw): return try timestamp(raw, slot: slot)
        case .integer(let t): return t
        case .number(let x):
            guard x.isFinite, abs(x) < 9.2e18 else { throw invalid(slot, "not a timestamp in seconds: \(x)") }
            return Int64(x.rounded(.down))
        }
    }

    /// A numeric field's raw value (NaN = missing).
    @inline(__always)
    func number(_ field: Field, slot: Int) throws(FeatureEncoderError) -> Double {
        switch field {
        case .integer(let i): return Double(i)
        case .number(let d):
            guard d.isFinite else { throw invalid(slot, "not a number: \(d)") }
            return d
        case .text(let text): return try number(text, slot: slot)
        }
    }

    /// A label field's value (NaN = missing).
    @inline(__always)
    func label(_ field: Field, plan: LabelPlan) throws(FeatureEncoderError) -> Float {
        switch field {
        case .text(let raw): try label(raw, plan: plan)
        case .integer(let i): try label(number: Double(i), plan: plan)
        case .number(let d): try label(number: d, plan: plan)
        }
    }

    func label(number x: Double, plan: LabelPlan) throws(FeatureEncoderError) -> Float {
        switch plan.kind {
        case .binary:
            guard x == 0 || x == 1 else { throw invalid(plan.slot, "not a binary label (0, 1, true, false): \(x)") }
        case .regression:
            guard x.isFinite else { throw invalid(plan.slot, "not a number: \(x)") }
        }
        return Float(x)
    }

    @inline(__always)
    static func text(_ field: Field, slot: Int) -> UnsafeRawBufferPointer {
        guard case .text(let raw) = field else {
            preconditionFailure("encodeRow(typed:): slot \(slot) takes text, got a number")
        }
        return raw
    }
}
