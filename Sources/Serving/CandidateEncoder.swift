import ModelDescription
import ModelMath
import TensorCore

/// Encodes a score request's candidates into rows of an ``ModelMath/EncodedBatch``, a chunk of
/// candidates at a time, column by column, through ``ModelDescription/FeatureEncoder/encodeColumns(_:rows:into:)``.
///
/// Vocabulary (the candidate path uses these words and no others):
///
/// - **feature**: one input the model's ``FeatureEncoder`` reads, by name (its `columns`, in
///   that order: the task key, the time, the features, the labels). A *feature index* is the
///   position in that list (the encoder's "slot"); ``FeatureSchema`` knows each one's kind.
/// - **column**: one feature's values across the request's candidates (a column of
///   ``CandidateColumns``; the wire's row form is turned into columns first).
/// - **value**: one candidate's entry in a column (``CandidateColumns/Value``). Typed for the
///   encoder it is a ``FeatureSchema/TypedValue`` (numbers stay numbers, everything else is
///   text), handed over as a ``FeatureEncoder/Field`` (a number or a pointer to text).
/// - **default**: what a feature reads for a candidate that has no value for it (no column, or
///   an absent value in the row form): the request's `context` entry, the user (task key), or
///   the missing value. Rendered once per request; a feature with no column is one constant
///   for every candidate, parsed and hashed once (``FeatureEncoder/FieldColumn/constant(_:)``).
/// - **chunk**: up to ``chunkSize`` candidates encoded together.
/// - **path**: where a value sits in the request JSON (`candidates[3].price` in the row form,
///   `candidates.price[3]` in the column form, `context.price`); errors name it.
///
/// Text values reach the encoder as pointers into the columns' bytes (no copy); only an integer
/// or a list for a categorical feature is written out as text first. Each value is type-checked
/// as it is typed (one pass). The first error in a chunk is its first bad value (by candidate,
/// then feature), else the encoder's first bad row; the batch is then left with the rows
/// encoded before the chunk (the caller removes the request's rows).
///
/// Thread safety: immutable; each thread passes its own ``Scratch``.
/// - Complexity: O(values + text bytes); no allocation once the scratch and the batch have the
///   capacity of the largest request.
struct CandidateEncoder: Sendable {
    let schema: FeatureSchema
    let encoder: FeatureEncoder

    /// Candidates per chunk: a chunk's values (64 × F fields) stay in L1.
    static let chunkSize = 64

    /// Encodes `request`'s candidates and appends them to `batch`; row-form candidates are first
    /// turned into columns in `rowColumns` (reused).
    ///
    /// - Returns: `nil`, or the error naming the first bad value (then `batch` may hold some of
    ///   the request's rows: remove them with ``ModelMath/EncodedBatch/removeRows(from:)``).
    func encode(
        candidatesOf request: ScoreRequest, into batch: inout EncodedBatch, rowColumns: inout CandidateColumns,
        scratch: inout Scratch
    ) -> ServingError? {
        if let columns = request.columns { return encode(columns, of: request, into: &batch, scratch: &scratch) }
        // Keep only names the model reads (an earlier request's unknown names must not stay).
        rowColumns.reset(form: .rows) { name in schema.feature(named: name).map(schema.isCandidateInput) ?? false }
        do throws(ServingError) {
            try rowColumns.append(rows: request.candidates)
        } catch {
            return error
        }
        rowColumns.dropAbsentColumns()
        return encode(rowColumns, of: request, into: &batch, scratch: &scratch)
    }

    /// Checks and encodes the candidates of `columns` (those of `request`) chunk by chunk.
    func encode(
        _ columns: CandidateColumns, of request: ScoreRequest, into batch: inout EncodedBatch, scratch: inout Scratch
    ) -> ServingError? {
        if let error = scratch.matchColumns(of: columns, to: schema) { return error }
        scratch.renderDefaults(of: request, schema: schema)
        scratch.prepareBuffers(features: schema.count)
        var first = 0
        while first < columns.count {
            let chunk = first..<min(first + Self.chunkSize, columns.count)
            if let error = encode(chunk, of: columns, request: request, into: &batch, scratch: &scratch) { return error }
            first = chunk.upperBound
        }
        return nil
    }

    /// Encodes the candidates `chunk` of `columns`: every feature's encoder column (its default,
    /// or its values typed into the scratch), then one ``FeatureEncoder/encodeColumns(_:rows:into:)``.
    private func encode(
        _ chunk: Range<Int>, of columns: CandidateColumns, request: ScoreRequest, into batch: inout EncodedBatch,
        scratch: inout Scratch
    ) -> ServingError? {
        scratch.chunkText.removeAll(keepingCapacity: true)
        scratch.pendingText.removeAll(keepingCapacity: true)
        let fields = scratch.buffers.fields, values = scratch.buffers.values
        return Borrow.read(columns.bytes, scratch.defaultText) { text, defaultText -> ServingError? in
            var bad: BadValue?
            for feature in 0..<schema.count {
                let fallback = scratch.defaults[feature].field(text: defaultText)
                let c = scratch.columnOfFeature[feature]
                guard c >= 0 else {
                    fields[feature] = .constant(fallback)
                    continue
                }
                let out = values + feature * Self.chunkSize
                fields[feature] = .values(UnsafePointer(out))
                let rejected = type(columns.columns[c], chunk, feature: feature, default: fallback, text: text, into: out,
                                    chunkText: &scratch.chunkText, pendingText: &scratch.pendingText)
                // The first bad value by candidate, then by feature, is reported.
                if let r = rejected, r < bad?.candidate ?? .max { bad = BadValue(candidate: r, feature: feature, column: c) }
            }
            if let bad { return checkError(bad, chunk: chunk, columns: columns) }
            let failure = Borrow.read(scratch.chunkText) { written in
                // Text written for this chunk: point the values at it now that it no longer moves.
                var p = 0
                while p < scratch.pendingText.count {
                    let (i, s, e) = (scratch.pendingText[p], scratch.pendingText[p + 1], scratch.pendingText[p + 2])
                    values[i] = .text(UnsafeRawBufferPointer(start: written + s, count: e - s))
                    p += 3
                }
                return encoder.encodeColumns(UnsafeBufferPointer(start: fields, count: schema.count), rows: chunk.count,
                                             into: &batch)
            }
            guard let (r, error) = failure else { return nil }
            return .invalidValue(field: path(of: error, candidate: chunk.lowerBound + r, columns: columns, request: request),
                                 reason: error.reason)
        }
    }

    /// A value its feature does not accept: candidate (offset in its chunk), feature, column.
    private struct BadValue {
        let candidate: Int, feature: Int, column: Int
    }

    /// Types `column`'s values of the candidates `chunk` for `feature` into `out[0 ..< chunk.count]`
    /// (feature-major: value `i` of the chunk buffer is `feature · chunkSize + r`). Text values
    /// point into `text`; text written for a value goes to `chunkText`, with its value index and
    /// range in `pendingText`. Returns the first candidate (offset in the chunk) whose value the
    /// feature does not accept, and stops there.
    @inline(__always)
    private func type(
        _ column: [CandidateColumns.Value], _ chunk: Range<Int>, feature: Int, default fallback: FeatureEncoder.Field,
        text: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<FeatureEncoder.Field>,
        chunkText: inout [UInt8], pendingText: inout [Int]
    ) -> Int? {
        let kind = schema.kinds[feature]
        let takesText = switch kind {
        case .taskKey, .categorical, .multiCategorical: true
        case .numeric, .time, .label: false
        }
        let isNumeric = kind == .numeric
        return Borrow.read(column) { column -> Int? in
            for r in 0..<chunk.count {
                let value = column[chunk.lowerBound + r]
                switch value {
                case .absent:
                    out[r] = fallback
                    continue
                case .text(let s, let e) where takesText:  // text as it is: no copy
                    out[r] = .text(UnsafeRawBufferPointer(start: text + Int(s), count: Int(e - s)))
                    continue
                case .number(let d) where isNumeric && d.isFinite:  // what `typed` gives, checked
                    out[r] = .number(d)
                    continue
                case .integer(let i) where isNumeric:
                    out[r] = .integer(i)
                    continue
                default: break
                }
                guard schema.accepts(FeatureSchema.shape(of: value), kind: kind) else { return r }
                switch schema.typed(value, kind: kind, source: text, text: &chunkText) {
                case .text(let s, let e):
                    pendingText.append(feature * Self.chunkSize + r)
                    pendingText.append(s)
                    pendingText.append(e)
                case let typed: out[r] = typed.field(text: text)
                }
            }
            return nil
        }
    }

    /// The type-check error of `bad`. The check names the path only when it fails: an
    /// autoclosure over `columns` in the typing loop would copy it (and retain its arrays) per value.
    private func checkError(_ bad: BadValue, chunk: Range<Int>, columns: CandidateColumns) -> ServingError? {
        let c = chunk.lowerBound + bad.candidate
        do throws(ServingError) {
            try schema.check(FeatureSchema.shape(of: columns.value(candidate: c, column: bad.column)),
                             kind: schema.kinds[bad.feature], path: columns.path(column: bad.column, candidate: c))
            return nil
        } catch {
            return error
        }
    }

    /// The JSON path of the value an encoder error is about: the candidate's own value, or the
    /// `context` value it read, or the feature as the request's form addresses it.
    private func path(of error: FeatureEncoderError, candidate c: Int, columns: CandidateColumns, request: ScoreRequest) -> String {
        guard let feature = error.slot else { return "candidates[\(c)]" }
        let name = schema.names[feature]
        if let f = columns.names.firstIndex(of: name), columns.value(candidate: c, column: f) != .absent {
            return columns.path(column: f, candidate: c)
        }
        if request.context?[name] != nil { return "context." + name }
        return columns.form == .rows ? "candidates[\(c)].\(name)" : "candidates.\(name)[\(c)]"
    }
}
