import TensorCore

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
    /// Each kept user's training items (a prefix of their sequence; the whole sequence in
    /// ``randomExamples(_:context:testShare:validationShare:seed:)``), by log user index.
    public let training: [(user: Int, items: ArraySlice<Int32>)]
    /// Training pairs `(entry, position t)`: `training[entry].items[t]` is the target (`t ≥ 1`),
    /// the items before it the history.
    public let trainingPositions: [(entry: Int, position: Int)]

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
        trainingPositions = training.enumerated().flatMap { (k, entry) in (1..<entry.1.count).map { (k, $0) } }
    }

    private init(targets: Int, validation: [Case], test: [Case], training: [(user: Int, items: ArraySlice<Int32>)],
                 trainingPositions: [(entry: Int, position: Int)]) {
        (self.targets, self.validation, self.test) = (targets, validation, test)
        (self.training, self.trainingPositions) = (training, trainingPositions)
    }

    /// TensorFlow Lite's on-device recommendation protocol (its MovieLens example), for
    /// comparability: every position `t ≥ 1` of every user's time line is an example, its history
    /// the `context` items before it and its target the item at `t`; the examples are shuffled
    /// (seeded) and `testShare` of them are the test cases, `validationShare` of the rest the
    /// validation cases (early stopping and choices), the others training positions.
    ///
    /// ```
    /// example (u, t):  history s_{max(0, t−context)} … s_{t−1}   target s_t       one case per example
    /// ```
    /// Unlike the chronological split a user's later items may be training targets while an
    /// earlier one is a test target (a random split of examples, as the example does).
    public static func randomExamples(
        _ log: InteractionLog, context: Int = 10, testShare: Double = 0.1, validationShare: Double = 0.1, seed: UInt64 = 1
    ) -> NextItemSplit {
        precondition(context >= 1 && (0..<1).contains(testShare) && (0..<1).contains(validationShare),
                     "NextItemSplit.randomExamples: context \(context), shares \(testShare), \(validationShare)")
        var training: [(user: Int, items: ArraySlice<Int32>)] = []
        var examples: [(entry: Int, position: Int)] = []
        for (u, s) in log.sequences.enumerated() where s.count >= 2 {
            for t in 1..<s.count { examples.append((training.count, t)) }
            training.append((u, s[...]))
        }
        var rng = SeededRandom(seed: seed)
        examples.shuffle(using: &rng)
        let testCount = Int((Double(examples.count) * testShare).rounded())
        let validationCount = Int((Double(examples.count - testCount) * validationShare).rounded())
        func cases(_ range: Range<Int>) -> [Case] {
            examples[range].map { (entry, t) in
                let (user, items) = training[entry]
                let first = items.startIndex
                return Case(user: user, history: items[max(first, first + t - context)..<(first + t)], targets: items[(first + t)...(first + t)])
            }
        }
        return NextItemSplit(targets: 1, validation: cases(testCount..<(testCount + validationCount)), test: cases(0..<testCount),
                             training: training, trainingPositions: Array(examples[(testCount + validationCount)...]))
    }
}
