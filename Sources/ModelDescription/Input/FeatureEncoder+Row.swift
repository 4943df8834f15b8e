import ModelMath
#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

extension FeatureEncoder {
    /// Parses one row into `scratch` without appending it anywhere: the values are checked,
    /// hashed and normalised, and the raw numeric values are left in ``Scratch/rawNumeric``.
    ///
    /// - Parameter fields: one UTF-8 value per slot of ``columns`` (`fields.count == columns.count`).
    /// - Throws: ``FeatureEncoderError/invalidValue(column:slot:reason:)`` for the first bad value.
    /// - Complexity: O(total bytes of the row); no allocation once `scratch` has warmed up.
    public func parseRow(
        _ fields: UnsafeBufferPointer<UnsafeRawBufferPointer>, into s: inout Scratch
    ) throws(FeatureEncoderError) {
        precondition(fields.count == columns.count, "parseRow: \(fields.count) fields for \(columns.count) columns")
        s.categorical.removeAll(keepingCapacity: true)
        s.numeric.removeAll(keepingCapacity: true)
        s.rawNumeric.removeAll(keepingCapacity: true)
        s.labels.removeAll(keepingCapacity: true)
        if s.multi.count != multiPlans.count { s.multi = Array(repeating: [], count: multiPlans.count) }

        s.taskKey = taskHasher.hash(fields[taskSlot])
        s.timestamp = 0
        if let timeSlot {
            s.timestamp = try timestamp(fields[timeSlot], slot: timeSlot)
        }
        for plan in categoricalPlans {
            s.categorical.append(plan.hasher.hash(fields[plan.slot]))
        }
        for (f, plan) in multiPlans.enumerated() {
            s.multi[f].removeAll(keepingCapacity: true)
            Self.split(fields[plan.slot], separator: plan.separator) { part in
                s.multi[f].append(plan.hasher.hash(part))
            }
        }
        if let scenePlan {
            let scene = s.categorical[scenePlan.sceneIndex]
            for f in 0..<s.categorical.count where scenePlan.categorical[f] {
                s.categorical[f] = FeatureKey.scoped(s.categorical[f], scene: scene)
            }
            for f in 0..<s.multi.count where scenePlan.multi[f] {
                for i in 0..<s.multi[f].count { s.multi[f][i] = FeatureKey.scoped(s.multi[f][i], scene: scene) }
            }
        }
        for plan in numericPlans {
            appendNumeric(try number(fields[plan.slot], slot: plan.slot), plan: plan, to: &s)
        }
        for plan in labelPlans {
            s.labels.append(try label(fields[plan.slot], plan: plan))
        }
    }

    /// A numeric field's value: NaN when empty (missing), an error when not a finite number.
    func number(_ text: UnsafeRawBufferPointer, slot: Int) throws(FeatureEncoderError) -> Double {
        let raw = ByteNumber.trimmed(text)
        guard !raw.isEmpty else { return .nan }
        guard let x = ByteNumber.double(raw), x.isFinite else {
            throw invalid(slot, "not a number: \(raw.quotedForMessage)")
        }
        return x
    }

    /// Appends a raw numeric value (NaN = missing, encoded as 0) and its normalised form.
    func appendNumeric(_ x: Double, plan: NumericPlan, to s: inout Scratch) {
        s.rawNumeric.append(x)
        s.numeric.append(normalized(x, plan: plan))
    }

    /// The encoded form of raw numeric value `x` (NaN = missing, encoded as 0).
    @inline(__always)
    func normalized(_ x: Double, plan: NumericPlan) -> Float {
        guard !x.isNaN else { return 0 }
        let y: Double = switch plan.normalization {
        case .standard: (x - plan.mean) * plan.inverseStd
        case .log1p: x < 0 ? -log1p(-x) : log1p(x)
        case .none: x
        }
        return Float(y)
    }

    /// Parses one row and appends it to `batch` (nothing is appended when it throws).
    ///
    /// - Parameter fields: one UTF-8 value per slot of ``columns``.
    /// - Throws: ``FeatureEncoderError/invalidValue(column:slot:reason:)``.
    public func encodeRow(
        _ fields: UnsafeBufferPointer<UnsafeRawBufferPointer>, into batch: inout EncodedBatch,
        scratch: inout Scratch
    ) throws(FeatureEncoderError) {
        try parseRow(fields, into: &scratch)
        batch.append(categorical: scratch.categorical, multiCategorical: scratch.multi, numeric: scratch.numeric,
                     labels: scratch.labels, taskKey: scratch.taskKey, timestamp: scratch.timestamp)
    }

    /// Encodes a row given by column name (JSON requests and events) and appends it to `batch`.
    ///
    /// An absent column reads as the empty string (missing value: the categorical "missing"
    /// key, numeric 0 after normalisation, label NaN), except the time column, which reads as 0
    /// when absent (candidates carry no time) but must be a number when present.
    /// Keys that are not in ``columns`` are ignored here; the caller decides whether they are
    /// an error.
    ///
    /// - Throws: ``FeatureEncoderError/invalidValue(column:slot:reason:)``.
    public func encode(
        row: [String: String], into batch: inout EncodedBatch, scratch: inout Scratch
    ) throws(FeatureEncoderError) {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(columns.count)
        scratch.rowBytes.removeAll(keepingCapacity: true)
        for (slot, name) in columns.enumerated() {
            let start = scratch.rowBytes.count
            if let value = row[name] {
                scratch.rowBytes.append(contentsOf: value.utf8)
            } else if slot == timeSlot {
                scratch.rowBytes.append(UInt8(ascii: "0"))
            }
            ranges.append(start..<scratch.rowBytes.count)
        }
        let bytes = scratch.rowBytes
        let result: Result<Void, FeatureEncoderError> = bytes.withUnsafeBytes { raw in
            let fields = ranges.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }
            return fields.withUnsafeBufferPointer { f in
                do throws(FeatureEncoderError) {
                    try encodeRow(f, into: &batch, scratch: &scratch)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        try result.get()
    }

    // MARK: Pieces

    func invalid(_ slot: Int, _ reason: String) -> FeatureEncoderError {
        .invalidValue(column: columns[slot], slot: slot, reason: reason)
    }

    func timestamp(_ field: UnsafeRawBufferPointer, slot: Int) throws(FeatureEncoderError) -> Int64 {
        let raw = ByteNumber.trimmed(field)
        guard !raw.isEmpty else { throw invalid(slot, "missing timestamp") }
        if let t = ByteNumber.int64(raw) { return t }
        guard let x = ByteNumber.double(raw), x.isFinite, abs(x) < 9.2e18 else {
            throw invalid(slot, "not a timestamp in seconds: \(raw.quotedForMessage)")
        }
        return Int64(x.rounded(.down))
    }

    func label(_ field: UnsafeRawBufferPointer, plan: LabelPlan) throws(FeatureEncoderError) -> Float {
        let raw = ByteNumber.trimmed(field)
        if raw.isEmpty { return .nan }
        switch plan.kind {
        case .binary:
            if let x = ByteNumber.double(raw) {
                if x == 0 || x == 1 { return Float(x) }
            } else if Self.equalsIgnoringCase(raw, "true") {
                return 1
            } else if Self.equalsIgnoringCase(raw, "false") {
                return 0
            }
            throw invalid(plan.slot, "not a binary label (0, 1, true, false): \(raw.quotedForMessage)")
        case .regression:
            guard let x = ByteNumber.double(raw), x.isFinite else {
                throw invalid(plan.slot, "not a number: \(raw.quotedForMessage)")
            }
            return Float(x)
        }
    }

    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start
        for i in 0..<bytes.count where bytes[i] | 0x20 != w[i] { return false }
        return true
    }

    /// Calls `body` with each non-empty part of `bytes` between occurrences of `separator`.
    @inline(__always)
    static func split(
        _ bytes: UnsafeRawBufferPointer, separator: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void
    ) {
        let n = bytes.count, m = separator.count
        var start = 0, i = 0
        let first = separator[0]
        while i < n {
            if bytes[i] == first, i + m <= n, m == 1 || (1..<m).allSatisfy({ bytes[i + $0] == separator[$0] }) {
                if i > start { body(UnsafeRawBufferPointer(rebasing: bytes[start..<i])) }
                i += m
                start = i
            } else {
                i += 1
            }
        }
        if n > start { body(UnsafeRawBufferPointer(rebasing: bytes[start..<n])) }
    }
}
