import Models
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
        if request.candidates.count > settings.maxCandidates {
            throw .tooManyCandidates(count: request.candidates.count, limit: settings.maxCandidates)
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
                for (c, candidate) in request.candidates.enumerated() {
                    var failure = fillCandidate(candidate, index: c, of: request, workspace: &ws)
                    if failure == nil, let error = appendRow(workspace: &ws) {
                        failure = .invalidValue(field: "candidates[\(c)].\(error.column ?? "")", reason: error.reason)
                    }
                    if let failure {
                        onError(r, failure)
                        skipped.insert(r)
                        continue pass  // rows of r may be in the batch already: encode again without it
                    }
                }
            }
            ws.rowOffsets.append(ws.batch.count)
            return
        }
    }

    /// Checks and writes candidate `c`'s values: walks the candidate's own entries (one name
    /// lookup each) instead of looking every column up, then fills the columns it does not set
    /// from the context, the request's user (task key) or the missing value. Numbers stay
    /// numbers (``ColumnPlan/typed(_:kind:text:)``); only categorical values are written as text.
    ///
    /// - Returns: the error naming `candidates[c].key` for an unknown column or a wrong JSON type.
    func fillCandidate(
        _ candidate: [String: FeatureValue], index c: Int, of request: ScoreRequest, workspace ws: inout PredictorWorkspace
    ) -> ServingError? {
        let n = plan.names.count
        ws.rowBytes.removeAll(keepingCapacity: true)
        for s in 0..<n { ws.slots[s] = .unset }
        for (key, value) in candidate {
            guard let slot = plan.slot(named: key), plan.isCandidateInput(slot) else {
                return .unknownFeature(field: "candidates[\(c)].\(key)")
            }
            let kind = plan.kinds[slot]
            do throws(ServingError) {
                try plan.check(value, kind: kind, field: "candidates[\(c)].\(key)")
            } catch {
                return error
            }
            ws.slots[slot] = plan.typed(value, kind: kind, text: &ws.rowBytes)
        }
        for slot in 0..<n where ws.slots[slot] == .unset {
            let kind = plan.kinds[slot]
            if let context = request.context, let v = context[plan.names[slot]] {
                ws.slots[slot] = plan.typed(v, kind: kind, text: &ws.rowBytes)
            } else if slot == plan.taskSlot {
                let start = ws.rowBytes.count
                ws.rowBytes.append(contentsOf: request.user.utf8)
                ws.slots[slot] = .text(start, ws.rowBytes.count)
            } else if kind == .time {
                ws.slots[slot] = .integer(0)
            } else {
                ws.slots[slot] = .text(0, 0)
            }
        }
        return nil
    }

    /// Where a slot's value comes from.
    enum SlotSource {
        case value(FeatureValue)
        case user(String)
        case absent
    }

    /// Writes one row's values, slot by slot, into `ws.slots` (text in `ws.rowBytes`).
    func fillRow(workspace ws: inout PredictorWorkspace, _ source: (Int) -> SlotSource) {
        ws.rowBytes.removeAll(keepingCapacity: true)
        for slot in 0..<plan.names.count {
            let kind = plan.kinds[slot]
            switch source(slot) {
            case .value(let v): ws.slots[slot] = plan.typed(v, kind: kind, text: &ws.rowBytes)
            case .user(let user):
                let start = ws.rowBytes.count
                ws.rowBytes.append(contentsOf: user.utf8)
                ws.slots[slot] = .text(start, ws.rowBytes.count)
            case .absent: ws.slots[slot] = kind == .time ? .integer(0) : .text(0, 0)
            }
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
                    try model.encoder.encodeRow(typed: UnsafeBufferPointer(fields), into: &ws.batch, scratch: &ws.scratch)
                    return nil
                } catch {
                    return error
                }
            }
        }
    }
}
