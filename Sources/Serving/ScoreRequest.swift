/// `POST /v1/score` (`docs/DESIGN.md` §HTTP): one user (the task key) and `C` candidates to score.
///
/// ```json
/// {"user": "42", "candidates": [{"item_id": "7", "price": 9.5}], "context": {"hour": 20},
///  "finetune": true, "steps": 3, "learning_rate": 0.05}
/// ```
/// `context` is merged into every candidate (a candidate's own value wins). When the task-key
/// column is also a feature and a candidate does not set it, it reads as `user`.
///
/// The candidates come as rows (``candidates``, one dictionary each) or as columns
/// (``columns``, one array per feature; what the JSON reader builds for either wire form).
/// Columns skip a dictionary per candidate and are the faster input; when ``columns`` is set,
/// ``candidates`` is ignored.
public struct ScoreRequest: Sendable, Equatable, Codable {
    /// The task key value (e.g. the user id), hashed like the encoder hashes the task-key column.
    public var user: String
    /// `C` rows of feature values by column name (ignored when ``columns`` is set).
    public var candidates: [[String: FeatureValue]]
    /// The `C` candidates as columns; `nil` = use ``candidates``. Encoded as rows (`Codable`);
    /// a request with columns and one with the same rows are not `==`.
    public var columns: CandidateColumns?
    /// Values shared by every candidate.
    public var context: [String: FeatureValue]?
    /// Per-request override of `serving.finetune`.
    public var finetune: Bool?
    /// Per-request override of `serving.inner_steps` (`k`, 0 … 100).
    public var steps: Int?
    /// Per-request override of `serving.inner_learning_rate` (`α`, finite, ≥ 0).
    public var learningRate: Double?

    public init(
        user: String, candidates: [[String: FeatureValue]], context: [String: FeatureValue]? = nil,
        finetune: Bool? = nil, steps: Int? = nil, learningRate: Double? = nil
    ) {
        self.user = user
        self.candidates = candidates
        self.context = context
        self.finetune = finetune
        self.steps = steps
        self.learningRate = learningRate
    }

    /// A request whose candidates are columns.
    public init(
        user: String, columns: CandidateColumns, context: [String: FeatureValue]? = nil,
        finetune: Bool? = nil, steps: Int? = nil, learningRate: Double? = nil
    ) {
        self.init(user: user, candidates: [], context: context, finetune: finetune, steps: steps, learningRate: learningRate)
        self.columns = columns
    }

    /// Candidates `C`, in either form.
    public var candidateCount: Int { columns?.count ?? candidates.count }

    enum CodingKeys: String, CodingKey {
        case user, candidates, context, finetune, steps
        case learningRate = "learning_rate"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // The user id may come as a JSON string or integer.
        if let s = try? c.decode(String.self, forKey: .user) {
            user = s
        } else if let i = try? c.decode(Int64.self, forKey: .user) {
            user = String(i)
        } else if c.contains(.user), !(try c.decodeNil(forKey: .user)) {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: c.codingPath + [CodingKeys.user],
                                                                 debugDescription: "expected a string or an integer"))
        } else {
            throw DecodingError.keyNotFound(CodingKeys.user, .init(codingPath: c.codingPath, debugDescription: "missing"))
        }
        candidates = try c.decode([[String: FeatureValue]].self, forKey: .candidates)
        context = try c.decodeIfPresent([String: FeatureValue].self, forKey: .context)
        finetune = try c.decodeIfPresent(Bool.self, forKey: .finetune)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(user, forKey: .user)
        try c.encode(columns?.rows ?? candidates, forKey: .candidates)
        try c.encodeIfPresent(context, forKey: .context)
        try c.encodeIfPresent(finetune, forKey: .finetune)
        try c.encodeIfPresent(steps, forKey: .steps)
        try c.encodeIfPresent(learningRate, forKey: .learningRate)
    }
}

/// `POST /v1/events`: feedback rows `(user, item features, labels, timestamp)` that become
/// support rows of their users.
///
/// ```json
/// {"events": [{"user": "42", "item_id": "7", "click": 1, "timestamp": 1700000000}]}
/// ```
/// The user is `user` or the config's task-key column; labels and the time column are named
/// as in the model config.
public struct EventsRequest: Sendable, Equatable, Codable {
    public var events: [[String: FeatureValue]]

    public init(events: [[String: FeatureValue]]) { self.events = events }
}
