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

    /// ``encodeRow(typed:into:)`` for `rows` rows at once, appended straight to
    /// `batch`'s columns (no per-row scratch); the rows' values are `fields[r·n ..< (r+1)·n]`
    /// for `n` = ``columns``.count. Gives the same rows as `rows` calls of `encodeRow(typed:)`.
    ///
    /// - Returns: `nil`, or the first row that failed and why; then none of the rows is appended.
    /// - Complexity: O(bytes of the rows' text); no allocation once `batch` has the capacity.
    public func encodeRows(
        typed fields: UnsafeBufferPointer<Field>, rows: Int, into batch: inout EncodedBatch
    ) -> (row: Int, error: FeatureEncoderError)? {
        let n = columns.count
        precondition(fields.count >= rows * n, "encodeRows(typed:): \(fields.count) fields for \(rows) rows of \(n)")
        let start = batch.count
        batch.reserveGrowing(rows: start + rows)
        for r in 0..<rows {
            do throws(FeatureEncoderError) {
                try appendRow(typed: UnsafeBufferPointer(rebasing: fields[(r * n)..<(r * n + n)]), to: &batch)
            } catch {
                batch.removeRows(from: start)
                return (r, error)
            }
        }
        return nil
    }

    /// One row of ``encodeRows(typed:rows:into:)``; on a throw the row may be partly appended.
    @inline(__always)
    private func appendRow(typed fields: UnsafeBufferPointer<Field>, to batch: inout EncodedBatch) throws(FeatureEncoderError) {
        let taskKey = taskHasher.hash(Self.text(fields[taskSlot], slot: taskSlot))
        var timestamp: Int64 = 0
        if let timeSlot {
            switch fields[timeSlot] {
            case .text(let raw): timestamp = try self.timestamp(raw, slot: timeSlot)
            case .integer(let t): timestamp = t
            case .number(let x):
                guard x.isFinite, abs(x) < 9.2e18 else { throw invalid(timeSlot, "not a timestamp in seconds: \(x)") }
                timestamp = Int64(x.rounded(.down))
            }
        }
        for plan in categoricalPlans {
            batch.categorical.append(plan.hasher.hash(Self.text(fields[plan.slot], slot: plan.slot)))
        }
        for (f, plan) in multiPlans.enumerated() {
            Self.split(Self.text(fields[plan.slot], slot: plan.slot), separator: plan.separator) { part in
                batch.multiCategorical[f].appendKey(plan.hasher.hash(part))
            }
            batch.multiCategorical[f].endRow()
        }
        for plan in numericPlans {
            let x: Double
            switch fields[plan.slot] {
            case .integer(let i): x = Double(i)
            case .number(let d):
                guard d.isFinite else { throw invalid(plan.slot, "not a number: \(d)") }
                x = d
            case .text(let text): x = try number(text, slot: plan.slot)
            }
            batch.numeric.append(normalized(x, plan: plan))
        }
        for plan in labelPlans {
            switch fields[plan.slot] {
            case .text(let raw): batch.labels.append(try label(raw, plan: plan))
            case .integer(let i): batch.labels.append(try label(number: Double(i), plan: plan))
            case .number(let d): batch.labels.append(try label(number: d, plan: plan))
            }
        }
        batch.endRow(taskKey: taskKey, timestamp: timestamp)
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
