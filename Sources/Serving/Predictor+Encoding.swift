import ModelDescription
import ModelMath
import TensorCore

extension Predictor {
    /// Checks a request's fields and context against the model and the limits before any work
    /// is done; each candidate's values are checked as it is encoded (``encode(_:workspace:onError:)``
    /// reports a bad one, and its request is left out whole).
    ///
    /// - Throws: ``ServingError/missingField(field:)`` (empty `user`),
    ///   ``ServingError/tooManyCandidates(count:limit:)``, ``ServingError/unknownFeature(field:)``,
    ///   ``ServingError/wrongType(field:expected:)``, ``ServingError/invalidValue(field:reason:)``.
    /// - Complexity: O(values in the request); allocates only to build an error.
    public func validate(_ request: ScoreRequest) throws(ServingError) {
        if request.user.isEmpty { throw .missingField(field: "user") }
        if request.candidateCount > settings.maxCandidates {
            throw .tooManyCandidates(count: request.candidateCount, limit: settings.maxCandidates)
        }
        if let steps = request.steps, !(0...ServingSettings.maxSteps).contains(steps) {
            throw .invalidValue(field: "steps", reason: "\(steps) is not in 0...\(ServingSettings.maxSteps)")
        }
        if let lr = request.learningRate, !(lr.isFinite && lr >= 0 && lr <= 1e3) {
            throw .invalidValue(field: "learning_rate", reason: "\(lr) is not a finite rate in 0...1000")
        }
        if let context = request.context {
            for (key, value) in context {
                guard let slot = plan.slot(named: key), plan.isCandidateInput(slot) else {
                    throw .unknownFeature(field: "context." + key)
                }
                try plan.check(value, kind: plan.kinds[slot], field: "context." + key)
            }
        }
        // Candidates are checked while they are encoded (one pass over each): see `encode`.
    }

    /// Encodes every candidate of `requests` into `ws.batch`, one block of rows per request
    /// (`ws.rowOffsets`, one entry per request that encoded plus the end). A request with a
    /// candidate that fails its check (unknown column, wrong JSON type) or that the encoder
    /// rejects is reported through `onError` and left out entirely.
    func encode<Requests: Collection<ScoreRequest>>(
        _ requests: Requests, workspace ws: inout PredictorWorkspace, onError: (Int, ServingError) -> Void
    ) {
        var skipped: Set<Int> = []
        pass: while true {
            ws.batch.removeAll()
            ws.rowOffsets.removeAll(keepingCapacity: true)
            for (r, request) in requests.enumerated() where !skipped.contains(r) {
                ws.rowOffsets.append(ws.batch.count)
                if let failure = encodeCandidates(of: request, workspace: &ws) {
                    onError(r, failure)
                    skipped.insert(r)
                    continue pass  // rows of r may be in the batch already: encode again without it
                }
            }
            ws.rowOffsets.append(ws.batch.count)
            return
        }
    }

    /// Appends one request's candidates to `ws.batch`; row-form candidates are first turned
    /// into columns in the workspace's reused ``PredictorWorkspace/rowColumns``.
    func encodeCandidates(of request: ScoreRequest, workspace ws: inout PredictorWorkspace) -> ServingError? {
        if let columns = request.columns { return encode(columns, of: request, workspace: &ws) }
        var columns = CandidateColumns(count: 0)
        swap(&columns, &ws.rowColumns)  // own it uniquely while `ws` is borrowed below
        defer { swap(&columns, &ws.rowColumns) }
        // Keep only names the model reads (an earlier request's unknown names must not stay).
        columns.reset(form: .rows) { name in plan.slot(named: name).map(plan.isCandidateInput) ?? false }
        do throws(ServingError) {
            try columns.append(rows: request.candidates)
        } catch {
            return error
        }
        columns.dropAbsentColumns()
        return encode(columns, of: request, workspace: &ws)
    }

    /// Checks and encodes the candidates of `columns`, 64 rows at a time, column by column
    /// (``FeatureEncoder/encodeColumns(_:rows:into:)``). A slot with no column reads the
    /// context, the request's user (task key) or the missing value, rendered once per request
    /// and encoded once for all rows; an absent cell (a row-form candidate without the key)
    /// reads the same. Text cells reach the encoder as pointers into the columns' bytes;
    /// numbers stay numbers; only an integer or list for a categorical slot is written out as
    /// text (``PredictorWorkspace/rowBytes``).
    ///
    /// - Returns: the error naming the value (`candidates[c].key` or `candidates.key[c]`),
    ///   chunk by chunk of 64 rows, in order: the chunk's first bad cell (by row, then slot),
    ///   else the encoder's first bad row in it.
    func encode(_ columns: CandidateColumns, of request: ScoreRequest, workspace ws: inout PredictorWorkspace) -> ServingError? {
        let n = plan.names.count
        for s in 0..<n { ws.columnOfSlot[s] = -1 }
        for (f, name) in columns.names.enumerated() {
            guard let slot = plan.slot(named: name), plan.isCandidateInput(slot) else {
                return .unknownFeature(field: columns.field(column: f))
            }
            ws.columnOfSlot[slot] = f
        }
        // What a slot reads when its cell is absent, once per request (in `fixedBytes`).
        ws.fixedBytes.removeAll(keepingCapacity: true)
        for slot in 0..<n {
            let source: SlotSource = if let v = request.context?[plan.names[slot]] { .value(v) }
                else if slot == plan.taskSlot { .user(request.user) } else { .absent }
            ws.fixedSlots[slot] = value(of: source, slot: slot, text: &ws.fixedBytes)
        }
        let fixedBytes = ws.fixedBytes, fixedSlots = ws.fixedSlots, columnOfSlot = ws.columnOfSlot
        let chunk = PredictorWorkspace.FieldBuffer.rows
        if !isKnownUniquelyReferenced(&ws.fields) { ws.fields = PredictorWorkspace.FieldBuffer() }  // a copied workspace
        // Slot-major: slot s's fields of a chunk's rows are `fields[s·chunk ..< s·chunk + rows]`.
        let fields = ws.fields.buffer(rows: chunk, columns: n)
        return columns.bytes.withUnsafeBytes { source -> ServingError? in
            fixedBytes.withUnsafeBytes { fixed -> ServingError? in
                withUnsafeTemporaryAllocation(of: FeatureEncoder.FieldColumn.self, capacity: n) { slots -> ServingError? in
                    var first = 0
                    while first < columns.count {
                        let rows = min(chunk, columns.count - first)
                        ws.rowBytes.removeAll(keepingCapacity: true)
                        ws.pendingText.removeAll(keepingCapacity: true)
                        var bad: (row: Int, slot: Int, column: Int)?
                        for slot in 0..<n {
                            let f = columnOfSlot[slot]
                            let absent = Self.field(fixedSlots[slot], text: fixed)
                            guard f >= 0 else {
                                (slots.baseAddress! + slot).initialize(to: .constant(absent))
                                continue
                            }
                            let out = fields.baseAddress! + slot * chunk
                            (slots.baseAddress! + slot).initialize(to: .values(UnsafePointer(out)))
                            let kind = plan.kinds[slot]
                            let takesText = switch kind {
                            case .taskKey, .categorical, .multiCategorical: true
                            case .numeric, .time, .label: false
                            }
                            let isNumeric = kind == .numeric
                            columns.columns[f].withUnsafeBufferPointer { cells in
                                cells: for r in 0..<rows {
                                    let cell = cells[first + r]
                                    switch cell {
                                    case .absent:
                                        out[r] = absent
                                        continue
                                    case .text(let s, let e) where takesText:  // text as it is: no copy
                                        out[r] = .text(UnsafeRawBufferPointer(rebasing: source[Int(s)..<Int(e)]))
                                        continue
                                    case .number(let d) where isNumeric && d.isFinite:  // what `typed` gives, checked
                                        out[r] = .number(d)
                                        continue
                                    case .integer(let i) where isNumeric:
                                        out[r] = .integer(i)
                                        continue
                                    default: break
                                    }
                                    if !plan.accepts(ColumnPlan.shape(of: cell), kind: kind) {
                                        // The first bad cell in row order (then slot order) is reported.
                                        if r < bad?.row ?? .max { bad = (r, slot, f) }
                                        break cells  // later rows of this column cannot be reported first
                                    }
                                    switch plan.typed(cell, kind: kind, source: source, text: &ws.rowBytes) {
                                    case .text(let s, let e):
                                        ws.pendingText.append(slot * chunk + r)
                                        ws.pendingText.append(s)
                                        ws.pendingText.append(e)
                                    case let typed: out[r] = Self.field(typed, text: fixed)
                                    }
                                }
                            }
                        }
                        if let bad {
                            // The check names the field only when it fails: an autoclosure over
                            // `columns` in the loop would copy it (and retain its arrays) per cell.
                            do throws(ServingError) {
                                let c = first + bad.row
                                try plan.check(ColumnPlan.shape(of: columns.cell(row: c, column: bad.column)),
                                               kind: plan.kinds[bad.slot], field: columns.field(column: bad.column, row: c))
                            } catch {
                                return error
                            }
                        }
                        // Text written for these rows: point the fields at it now that it no longer moves.
                        let failure = ws.rowBytes.withUnsafeBytes { written -> (row: Int, error: FeatureEncoderError)? in
                            var p = 0
                            while p < ws.pendingText.count {
                                let (i, s, e) = (ws.pendingText[p], ws.pendingText[p + 1], ws.pendingText[p + 2])
                                fields[i] = .text(UnsafeRawBufferPointer(rebasing: written[s..<e]))
                                p += 3
                            }
                            return model.encoder.encodeColumns(UnsafeBufferPointer(slots), rows: rows, into: &ws.batch)
                        }
                        if let (r, error) = failure {
                            return .invalidValue(field: field(of: error, row: first + r, columns: columns, request: request),
                                                 reason: error.reason)
                        }
                        first += rows
                    }
                    return nil
                }
            }
        }
    }

    /// The JSON path of the value an encoder error is about: the candidate's cell, or the
    /// `context` value it read, or the slot as the request's form addresses it.
    private func field(of error: FeatureEncoderError, row c: Int, columns: CandidateColumns, request: ScoreRequest) -> String {
        guard let slot = error.slot else { return "candidates[\(c)]" }
        let name = plan.names[slot]
        if let f = columns.names.firstIndex(of: name), columns.cell(row: c, column: f) != .absent {
            return columns.field(column: f, row: c)
        }
        if request.context?[name] != nil { return "context." + name }
        return columns.form == .rows ? "candidates[\(c)].\(name)" : "candidates.\(name)[\(c)]"
    }

    /// The encoder field of a slot value whose text lives in `text`.
    @inline(__always)
    static func field(_ slot: ColumnPlan.Slot, text: UnsafeRawBufferPointer) -> FeatureEncoder.Field {
        switch slot {
        case .text(let start, let end): .text(UnsafeRawBufferPointer(rebasing: text[start..<end]))
        case .number(let d): .number(d)
        case .integer(let i): .integer(i)
        case .unset: .text(UnsafeRawBufferPointer(rebasing: text[0..<0]))
        }
    }

    /// Where a slot's value comes from.
    enum SlotSource {
        case value(FeatureValue)
        case user(String)
        case absent
    }

    /// The encoder value of `slot` from `source` (text appended to `text`): a value typed for the
    /// slot's kind, the user's text, or the missing value (0 for the time column).
    func value(of source: SlotSource, slot: Int, text: inout [UInt8]) -> ColumnPlan.Slot {
        switch source {
        case .value(let v): return plan.typed(v, kind: plan.kinds[slot], text: &text)
        case .user(let user):
            let start = text.count
            text.append(contentsOf: user.utf8)
            return .text(start, text.count)
        case .absent: return plan.kinds[slot] == .time ? .integer(0) : .text(0, 0)
        }
    }

    /// Writes one row's values, slot by slot, into `ws.slots` (text in `ws.rowBytes`).
    func fillRow(workspace ws: inout PredictorWorkspace, _ source: (Int) -> SlotSource) {
        ws.rowBytes.removeAll(keepingCapacity: true)
        for slot in 0..<plan.names.count {
            ws.slots[slot] = value(of: source(slot), slot: slot, text: &ws.rowBytes)
        }
    }

    /// Encodes the row in `ws.slots` / `ws.rowBytes` and appends it to `ws.batch`; returns the
    /// encoder's error instead (nothing appended then).
    func appendRow(workspace ws: inout PredictorWorkspace) -> FeatureEncoderError? {
        let bytes = ws.rowBytes, slots = ws.slots
        let n = slots.count
        return bytes.withUnsafeBytes { raw in
            withUnsafeTemporaryAllocation(of: FeatureEncoder.Field.self, capacity: n) { fields in
                for s in 0..<n {
                    switch slots[s] {
                    case .text(let start, let end): fields[s] = .text(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    case .number(let d): fields[s] = .number(d)
                    case .integer(let i): fields[s] = .integer(i)
                    case .unset: fields[s] = .text(UnsafeRawBufferPointer(rebasing: raw[0..<0]))
                    }
                }
                do throws(FeatureEncoderError) {
                    try model.encoder.encodeRow(typed: UnsafeBufferPointer(fields), into: &ws.batch)
                    return nil
                } catch {
                    return error
                }
            }
        }
    }
}
