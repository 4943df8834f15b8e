import ModelDescription
import ModelMath
import ParamServer

/// A user held out of training (the user-cold protocol, `docs/DESIGN.md` §Personalisation): their earlier rows,
/// sent as feedback events, and their last rows, scored as one request's candidates.
public struct HeldOutRequest: Sendable, Equatable {
    /// The task-key value.
    public var user: String
    /// Feedback events (item features, labels, time), oldest first, as `POST /v1/events` takes them.
    public var support: [[String: FeatureValue]]
    /// Candidates (features only), as `POST /v1/score` takes them.
    public var query: [[String: FeatureValue]]

    public init(user: String, support: [[String: FeatureValue]], query: [[String: FeatureValue]]) {
        self.user = user
        self.support = support
        self.query = query
    }
}

/// The two variants' scores of a held-out user's query: `(C, K)` row-major, like
/// ``ScoreResult/scores``.
public struct HeldOutScores: Sendable, Equatable {
    /// Base towers θ (`finetune: false`).
    public var base: ScoreResult
    /// Towers adapted on the user's support rows (`finetune: true`), or the base towers on a
    /// fallback (``ScoreResult/fallback`` says which).
    public var finetuned: ScoreResult
}

extension Predictor {
    /// Scores a held-out user through the serving path, as a client would:
    ///
    /// ```
    /// POST /v1/events {"events": support}                                 support → the support store
    /// POST /v1/score  {"user": u, "candidates": query, "finetune": false}  → base
    /// POST /v1/score  {"user": u, "candidates": query, "finetune": true,
    ///                  "steps": k?, "learning_rate": α?}                   → finetuned
    /// ```
    /// The store must not hold rows of the user beforehand (a held-out user never appears in
    /// the training data, whose most recent rows the model directory's support snapshot holds):
    /// otherwise the fine-tuned variant would adapt on training rows too. Settings not given here
    /// (`serving.finetune_min_support_rows`, the store's capacity `S_max` and TTL) are the
    /// predictor's; the store keeps only each user's newest `S_max` events, and expiry counts
    /// from the clock's time of the append (inject a clock that does not run past the TTL).
    ///
    /// - Throws: ``ServingError``: a bad event or candidate (naming `events[i].column` or
    ///   `candidates[j].column`), or `invalidValue(field: "user")` when the store already holds
    ///   rows of the user. Nothing is recorded when the events are rejected.
    public func scoreHeldOut(_ request: HeldOutRequest, steps: Int? = nil, learningRate: Double? = nil) throws(ServingError) -> HeldOutScores {
        let prior = supportRowCount(user: request.user)
        guard prior == 0 else {
            throw .invalidValue(
                field: "user",
                reason: "user \(request.user) already has \(prior) rows in the support store: a held-out user must not appear in the training data")
        }
        if !request.support.isEmpty { try record(events: EventsRequest(events: request.support)) }
        let base = try score(ScoreRequest(user: request.user, candidates: request.query, finetune: false))
        let finetuned = try score(ScoreRequest(
            user: request.user, candidates: request.query, finetune: true, steps: steps, learningRate: learningRate))
        return HeldOutScores(base: base, finetuned: finetuned)
    }

    /// Servable support rows the store holds for `user` (not expired, current model version).
    public func supportRowCount(user: String) -> Int {
        let store = model.support
        var features = [Float](repeating: 0, count: store.config.capacity * store.config.rowWidth)
        var labels = [Float](repeating: 0, count: store.config.capacity * store.config.labelWidth)
        return Self.pull(store, task: taskKey(user: user), features: &features, labels: &labels)
    }

    /// How the model uses a column of a log, for turning text cells into request values.
    public enum ColumnRole: Sendable, Equatable {
        /// Not an input or label of the model (e.g. a title, the protocol's `role`): dropped.
        case unused
        /// A feature, the task key or the time: sent with events and candidates.
        case input
        /// A label: sent with events only.
        case label
    }

    /// The role of column `name`.
    public func columnRole(_ name: String) -> ColumnRole {
        guard let feature = schema.feature(named: name) else { return .unused }
        if case .label = schema.kinds[feature] { return .label }
        return .input
    }

    /// The request value of a CSV cell of column `name`, typed as the column's kind wants it:
    ///
    /// ```
    /// task key, categorical, multi-categorical   .string (a separated list stays one string)
    /// numeric, regression label                  .number
    /// time                                       .integer (seconds), or .number
    /// binary label                               .integer 0 / 1
    /// empty cell                                 .null (missing)
    /// ```
    /// Returns `nil` for a column the model does not use.
    /// - Throws: ``ServingError/invalidValue(field:reason:)`` naming `name` for a cell that is not
    ///   a number where one is needed, or a binary label other than 0/1.
    public func requestValue(column name: String, text: String) throws(ServingError) -> FeatureValue? {
        guard let feature = schema.feature(named: name) else { return nil }
        let trimmed = text.trimmedSpacesAndTabs()
        if trimmed.isEmpty { return .null }
        func number() throws(ServingError) -> Double {
            guard let v = Double(trimmed), v.isFinite else { throw .invalidValue(field: name, reason: "not a number: \"\(text)\"") }
            return v
        }
        switch schema.kinds[feature] {
        case .taskKey, .categorical, .multiCategorical:
            return .string(text)
        case .numeric, .label(.regression):
            return .number(try number())
        case .time:
            if let i = Int64(trimmed) { return .integer(i) }
            return .number(try number())
        case .label(.binary):
            let v = try number()
            guard v == 0 || v == 1 else { throw .invalidValue(field: name, reason: "a binary label must be 0 or 1, found \"\(text)\"") }
            return .integer(Int64(v))
        }
    }
}

extension String {
    fileprivate func trimmedSpacesAndTabs() -> Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
