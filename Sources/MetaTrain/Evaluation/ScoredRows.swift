/// The scored rows of one variant (a model, fine-tuned or not, or a baseline): the common
/// currency between whatever scores rows (`metarec eval`, baselines) and the per-user
/// comparison (`metarec compare`). Stored as ``ScoredRowsFile``.
///
/// One ``Row`` per scored row *and task*: a row of a two-task model is two rows here. `user`
/// is the value of the model's task-key column (a user, a crowd, …), as written in the log.
public struct ScoredRows: Sendable, Equatable {
    /// One labelled prediction.
    public struct Row: Sendable, Equatable {
        /// The task-key value, e.g. a user id.
        public var user: String
        /// The label's name, e.g. `like`, `rating`.
        public var task: String
        /// The observed label (0/1, or a grade such as a rating).
        public var label: Double
        /// Higher = ranked earlier (a probability, a rating, a logit, any monotone score).
        public var score: Double

        /// One row.
        public init(user: String, task: String, label: Double, score: Double) {
            self.user = user
            self.task = task
            self.label = label
            self.score = score
        }
    }

    /// The rows in the order they were scored or read.
    public var rows: [Row]

    /// Rows given directly.
    public init(rows: [Row] = []) { self.rows = rows }

    /// The task names in order of first appearance.
    public var tasks: [String] {
        var seen = Set<String>(), out: [String] = []
        for row in rows where seen.insert(row.task).inserted { out.append(row.task) }
        return out
    }

    /// The rows of `task`, grouped by user (each user's rows in file order).
    public func users(task: String) -> [String: UserRows] {
        var out: [String: UserRows] = [:]
        for row in rows where row.task == task { out[row.user, default: UserRows()].append(label: row.label, score: row.score) }
        return out
    }

    /// The labels of `task`.
    public func labels(task: String) -> [Double] { rows.lazy.filter { $0.task == task }.map(\.label) }

    /// Appends `other`'s rows.
    public mutating func append(contentsOf other: ScoredRows) { rows += other.rows }
}
