import ModelDescription
import ModelMath
import ParamServer
import TensorCore

extension Predictor {
    /// Turns feedback events into support rows (`docs/DESIGN.md` §Serving): each event's item
    /// features go through the *current* model's bottom, and its `f_1 … f_K` and labels are
    /// appended to its user's ring in the support store, so the user's next score adapts on them.
    ///
    /// ```
    /// f_k(event) = Bottom(event features)_k          (n, H) per task, concatenated to (n, K·H)
    /// support[user] ← (f_1 … f_K, labels, timestamp)
    /// ```
    /// With the support encoder, an event's bottom input pools its user's stored rows and the
    /// request's earlier events (``attachEventSupport(workspace:)``), and its row also keeps its
    /// source key (``ModelDescription/SupportRowKey``).
    /// Each event names its user as `user` (or the task-key column), its labels by label
    /// name (at least one), and its time as the config's time column or `timestamp`.
    ///
    /// - Returns: the number of rows appended (`events.count`).
    /// - Throws: ``ServingError`` naming `events[i].field`; then nothing is appended. With a
    ///   shared store, ``ServingError/supportStoreUnavailable(_:)`` (503) when it cannot take them.
    @discardableResult
    public func record(events request: EventsRequest) throws(ServingError) -> Int {
        let store = supportStore
        return try record(events: request) { (rows: SupportRows) throws(ServingError) in
            do throws(SupportStoreUnavailable) {
                try store.appendRows(rows)
            } catch {
                metrics.recordSupportStoreFailure(error, appending: true)
                throw .supportStoreUnavailable(error)
            }
        }
    }

    /// ``record(events:)`` with the appending left to `commit`, which gets the validated request's
    /// support rows (borrowed for the call) and appends them to ``supportStore`` itself:
    /// the server's event log writes them to its log first and appends them in log order.
    ///
    /// - Throws: ``ServingError`` naming `events[i].field` (then `commit` is not called), or
    ///   what `commit` throws (then the rows are not counted as appended).
    @discardableResult
    public func record(events request: EventsRequest,
                       commit: (SupportRows) throws(ServingError) -> Void) throws(ServingError) -> Int {
        let events = request.events
        for (i, event) in events.enumerated() { try validate(event: event, index: i) }
        guard !events.isEmpty else { return 0 }
        let n = try withWorkspace { (ws: inout PredictorWorkspace) throws(ServingError) -> Int in
            resetBatch(workspace: &ws)
            for (i, event) in events.enumerated() {
                fillRow(workspace: &ws) { feature in
                    let name = schema.names[feature]
                    if let v = event[name] { return .value(v) }
                    if feature == schema.taskFeature, let v = event["user"] { return .value(v) }
                    if feature == schema.timeFeature, let v = event["timestamp"] { return .value(v) }
                    return .missing
                }
                if let error = appendRow(workspace: &ws) {
                    throw .invalidValue(field: "events[\(i)].\(error.column ?? "")", reason: error.reason)
                }
            }
            try attachEventSupport(workspace: &ws)
            runBottom(workspace: &ws)
            let n = ws.batch.count, h = spec.metaWidth, k = tasks.count, w = supportRowWidth
            ws.eventFeatures.removeAll(keepingCapacity: true)
            ws.eventFeatures.append(contentsOf: repeatElement(0, count: n * w))
            for t in 0..<k {
                ws.network.meta[t].withUnsafeBufferPointer { f in
                    ws.eventFeatures.withUnsafeMutableBufferPointer { out in
                        for i in 0..<n {
                            (out.baseAddress! + i * w + t * h).update(from: f.baseAddress! + i * h, count: h)
                        }
                    }
                }
            }
            if let source = supportEncoder?.sourceColumn {
                let fc = ws.batch.categoricalWidth
                ws.eventFeatures.withUnsafeMutableBufferPointer { out in
                    for i in 0..<n { SupportRowKey.write(ws.batch.categorical[i * fc + source], to: out.baseAddress! + i * w + k * h) }
                }
            }
            ws.eventTimes.removeAll(keepingCapacity: true)
            for i in 0..<n { ws.eventTimes.append(.seconds(ws.batch.timestamps[i])) }
            try ws.batch.taskKeys.withUnsafeBufferPointer { (keys) throws(ServingError) in
                try ws.eventFeatures.withUnsafeBufferPointer { (f) throws(ServingError) in
                    try ws.batch.labels.withUnsafeBufferPointer { (l) throws(ServingError) in
                        try ws.eventTimes.withUnsafeBufferPointer { (times) throws(ServingError) in
                            try commit(SupportRows(tasks: keys, features: f, labels: l, timestamps: times))
                        }
                    }
                }
            }
            return n
        }
        metrics.recordEvents(n)
        return n
    }

    /// Checks one event: known columns, JSON types, a user, at least one label.
    func validate(event: [String: FeatureValue], index i: Int) throws(ServingError) {
        var hasUser = false, labels = 0
        for (key, value) in event {
            let feature: Int
            if key == "user" {
                feature = schema.taskFeature
            } else if key == "timestamp", let timeFeature = schema.timeFeature, schema.feature(named: key) == nil {
                feature = timeFeature
            } else if let f = schema.feature(named: key) {
                feature = f
            } else {
                throw .unknownFeature(field: "events[\(i)].\(key)")
            }
            try schema.check(value, kind: schema.kinds[feature], path: "events[\(i)].\(key)")
            if feature == schema.taskFeature, value != .null {
                if case .string(let s) = value, s.isEmpty {} else { hasUser = true }
            }
            if case .label = schema.kinds[feature], value != .null { labels += 1 }
        }
        guard hasUser else { throw .missingField(field: "events[\(i)].user") }
        guard labels > 0 else {
            throw .missingField(field: "events[\(i)].\(schema.labelFeatures.map { schema.names[$0] }.joined(separator: "|"))")
        }
    }
}
