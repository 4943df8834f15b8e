import ModelDescription
import ModelMath
import ParamServer
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
                guard let feature = schema.feature(named: key), schema.isCandidateInput(feature) else {
                    throw .unknownFeature(field: "context." + key)
                }
                try schema.check(value, kind: schema.kinds[feature], path: "context." + key)
            }
        }
        // Candidates are checked while they are encoded (one pass over each): see `CandidateEncoder`.
    }

    /// Encodes every candidate of `requests` into `ws.batch`, one block of rows per request
    /// (`ws.rowOffsets`, one entry per request that encoded plus the end). A request with a
    /// candidate that fails its check (unknown feature, wrong JSON type) or that the encoder
    /// rejects is reported through `onError` and left out entirely (its rows are removed again).
    func encode<Requests: Collection<ScoreRequest>>(
        _ requests: Requests, workspace ws: inout PredictorWorkspace, onError: (Int, ServingError) -> Void
    ) {
        resetBatch(workspace: &ws)
        ws.rowOffsets.removeAll(keepingCapacity: true)
        ws.rowTasks.removeAll(keepingCapacity: true)
        for (r, request) in requests.enumerated() {
            if let failure = encodeCandidates(of: request, workspace: &ws) {
                onError(r, failure)
                continue
            }
        }
        ws.rowOffsets.append(ws.batch.count)
    }

    /// Encodes one request's candidates as the whole batch (`ws.rowOffsets` = `[0, C]`), with
    /// the support encoder's pools attached: what ``runBottom(workspace:)`` needs. Encoded
    /// directly (iterating a one-element collection copied the request).
    func encodeAlone(_ request: ScoreRequest, workspace ws: inout PredictorWorkspace) throws(ServingError) {
        resetBatch(workspace: &ws)
        ws.rowOffsets.removeAll(keepingCapacity: true)
        ws.rowTasks.removeAll(keepingCapacity: true)
        if let failure = encodeCandidates(of: request, workspace: &ws) { throw failure }
        ws.rowOffsets.append(ws.batch.count)
        attachCandidateSupport(workspace: &ws)
    }

    /// Appends one request's candidates to `ws.batch` and their first row to `ws.rowOffsets`;
    /// on an error, removes the rows appended and returns it (``CandidateEncoder``).
    func encodeCandidates(of request: ScoreRequest, workspace ws: inout PredictorWorkspace) -> ServingError? {
        let start = ws.batch.count
        if let failure = candidateEncoder.encode(candidatesOf: request, into: &ws.batch, rowColumns: &ws.rowColumns,
                                                 scratch: &ws.candidates) {
            ws.batch.removeRows(from: start)
            return failure
        }
        ws.rowOffsets.append(start)
        if supportEncoder != nil { ws.rowTasks.append(taskKey(user: request.user)) }
        return nil
    }

    /// Empties `ws.batch` for reuse, without the support encoder's columns of its last use.
    func resetBatch(workspace ws: inout PredictorWorkspace) {
        ws.batch.removeAll()
        if ws.batch.multiCategorical.count > baseMultiWidth {
            ws.batch.multiCategorical.removeLast(ws.batch.multiCategorical.count - baseMultiWidth)
        }
    }

    /// Attaches the support encoder's pools to the encoded candidates (nothing when it is off):
    /// each request's rows pool its user's rows in the support store, the newest `S_max`, the
    /// same rows its towers adapt on (``ModelMath/SupportHistory``).
    func attachCandidateSupport(workspace ws: inout PredictorWorkspace) {
        guard let supportEncoder else { return }
        // A shared store that cannot be read seeds no rows: those requests fall back to the base
        // towers anyway (``finish``), scored with an empty pool like an unknown user's.
        var history = (try? seededHistory(supportEncoder, tasks: ws.rowTasks, workspace: &ws)) ?? SupportHistory(encoder: supportEncoder)
        history.attachCandidates(to: &ws.batch, rowOffsets: ws.rowOffsets, tasks: ws.rowTasks)
    }

    /// Attaches the support encoder's pools to a batch of events (nothing when it is off): each
    /// event pools its user's rows in the support store, then the request's earlier events of
    /// that user: the rows that precede it, as in training.
    ///
    /// - Throws: ``ServingError/supportStoreUnavailable(_:)`` when a shared store cannot be read
    ///   (the events' rows would be encoded without their history: refused, not guessed).
    func attachEventSupport(workspace ws: inout PredictorWorkspace) throws(ServingError) {
        guard let supportEncoder else { return }
        var history: SupportHistory
        do throws(SupportStoreUnavailable) {
            history = try seededHistory(supportEncoder, tasks: ws.batch.taskKeys, workspace: &ws)
        } catch {
            throw .supportStoreUnavailable(error)
        }
        history.attach(to: &ws.batch)
    }

    /// A history seeded with the stored rows of each distinct task in `tasks` (pulled once per
    /// task, however often it repeats: one user in several merged requests or events).
    func seededHistory(_ encoder: SupportEncoder, tasks: [UInt64],
                       workspace ws: inout PredictorWorkspace) throws(SupportStoreUnavailable) -> SupportHistory {
        var history = SupportHistory(encoder: encoder)
        var seeded: Set<UInt64> = []
        for task in tasks where seeded.insert(task).inserted {
            let rows = try supportEncoderRows(task: task, encoder: encoder, workspace: &ws)
            history.seed(task: task, keys: rows.keys, labels: rows.labels)
        }
        return history
    }

    // MARK: Events, row by row

    /// Types one row's values, feature by feature, into `ws.eventValues` (text in `ws.eventText`).
    func fillRow(workspace ws: inout PredictorWorkspace, _ source: (Int) -> FeatureSchema.Source) {
        ws.eventText.removeAll(keepingCapacity: true)
        for feature in 0..<schema.count {
            ws.eventValues[feature] = schema.typed(source(feature), feature: feature, text: &ws.eventText)
        }
    }

    /// Encodes the row in `ws.eventValues` / `ws.eventText` and appends it to `ws.batch`; returns
    /// the encoder's error instead (nothing appended then).
    func appendRow(workspace ws: inout PredictorWorkspace) -> FeatureEncoderError? {
        let n = schema.count
        return Borrow.read(ws.eventText, ws.eventValues) { text, values in
            withUnsafeTemporaryAllocation(of: FeatureEncoder.Field.self, capacity: n) { fields in
                for feature in 0..<n { fields[feature] = values[feature].field(text: text) }
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
