/// The chronological per-user protocol: each user's last `targets` items are the test targets,
/// the `targets` before them the validation targets, everything earlier is training data.
///
/// ```
/// sequence  s_0 … s_{n−2T−1} | s_{n−2T} … s_{n−T−1} | s_{n−T} … s_{n−1}
///           training            validation targets     test targets
/// validation: history = the training items;          test: history = training + validation items
/// training examples: (s_{max(0,t−L)} … s_{t−1}) → s_t for every training position t ≥ 1
/// ```
/// Users with fewer than `2T + 2` items are left out (no training pair). Every remaining user
/// is a validation and a test user; nothing of a user's future enters their history.
public struct NextItemSplit: Sendable {
    /// One user's evaluation case: the history before the targets, and the targets.
    public struct Case: Sendable {
        /// Index into the log's users.
        public var user: Int
        /// Items before the targets, oldest first.
        public var history: ArraySlice<Int32>
        /// The next items (the relevant set).
        public var targets: ArraySlice<Int32>

        /// A case of `user` ranked from `history` against `targets`.
        public init(user: Int, history: ArraySlice<Int32>, targets: ArraySlice<Int32>) {
            (self.user, self.history, self.targets) = (user, history, targets)
        }
    }

    /// Targets per user per evaluation split, `T`.
    public let targets: Int
    /// Validation cases.
    public let validation: [Case]
    /// Test cases.
    public let test: [Case]
    /// Each kept user's training items (a prefix of their sequence), by log user index.
    public let training: [(user: Int, items: ArraySlice<Int32>)]

    /// Splits `log` with `targets` items per user for validation and for test.
    public init(_ log: InteractionLog, targets: Int = 5) {
        precondition(targets >= 1, "NextItemSplit: targets = \(targets)")
        self.targets = targets
        var validation: [Case] = [], test: [Case] = [], training: [(Int, ArraySlice<Int32>)] = []
        for (u, s) in log.sequences.enumerated() where s.count >= 2 * targets + 2 {
            let n = s.count
            training.append((u, s[0..<(n - 2 * targets)]))
            validation.append(Case(user: u, history: s[0..<(n - 2 * targets)], targets: s[(n - 2 * targets)..<(n - targets)]))
            test.append(Case(user: u, history: s[0..<(n - targets)], targets: s[(n - targets)...]))
        }
        (self.validation, self.test, self.training) = (validation, test, training)
    }

    /// Training pairs `(entry, position t)`: `training[entry].items[t]` is the target, `t ≥ 1`.
    public var trainingPositions: [(entry: Int, position: Int)] {
        training.enumerated().flatMap { (k, entry) in (1..<entry.items.count).map { (k, $0) } }
    }
}
