/// Per-user metrics of one task for one variant `A`, or for two variants `A` and `B` scored on the
/// same users with the paired bootstrap CI of `B − A` for each metric (`docs/DESIGN.md`
/// §Personalisation).
///
/// Which metrics: ``LabelScale/metrics(ks:)`` (binary: GAUC, nDCG@K, recall@K; graded: nDCG@K).
/// Pairing: a user counts in a difference when its metric is defined in both variants; users
/// with rows in only one variant are counted in ``usersOnlyInA`` / ``usersOnlyInB`` and left
/// out of the differences (each variant's own mean still includes them).
public struct PerUserReport: Sendable {
    /// The task (label) name.
    public var task: String
    /// How the labels are read: which metrics, which gain.
    public var scale: LabelScale
    /// The metrics reported, in order: ``LabelScale/metrics(ks:)``.
    public var metrics: [PerUserMetric]
    /// Variant A's values, one per metric.
    public var a: [PerUserValues]
    /// Variant B's values, one per metric; `nil` for a single variant.
    public var b: [PerUserValues]?
    /// `B − A` per metric; `nil` where no user is counted in both.
    public var differences: [PairedDifference?]
    /// Users with rows of this task in A only.
    public var usersOnlyInA = 0
    /// Users with rows of this task in B only.
    public var usersOnlyInB = 0

    /// The report of one task: `a`'s (and `b`'s) users and their rows.
    /// - Parameters:
    ///   - ks: the cut-offs K of nDCG@K and recall@K (each ≥ 1).
    ///   - resamples, seed: the paired bootstrap's; every metric uses the same seed.
    public init(task: String, scale: LabelScale, a: [String: UserRows], b: [String: UserRows]? = nil, ks: [Int],
                resamples: Int = PairedBootstrap.defaultResamples, seed: UInt64 = 1) {
        precondition(ks.allSatisfy { $0 >= 1 }, "PerUserReport: cut-offs \(ks) must be >= 1")
        self.task = task
        self.scale = scale
        metrics = scale.metrics(ks: ks)
        self.a = metrics.map { PerUserValues(metric: $0, users: a, scale: scale) }
        guard let b else {
            self.b = nil
            differences = metrics.map { _ in nil }
            return
        }
        let valuesB = metrics.map { PerUserValues(metric: $0, users: b, scale: scale) }
        self.b = valuesB
        differences = zip(self.a, valuesB).map { PairedBootstrap.difference(a: $0, b: $1, resamples: resamples, seed: seed) }
        usersOnlyInA = a.keys.count { b[$0] == nil }
        usersOnlyInB = b.keys.count { a[$0] == nil }
    }

    /// One report per task of `a` and `b` (tasks in order of first appearance, A's first). A
    /// task's scale is inferred from the labels of both files (``LabelScale/init(inferredFrom:)``).
    public static func compare(a: ScoredRows, b: ScoredRows, ks: [Int], resamples: Int = PairedBootstrap.defaultResamples,
                               seed: UInt64 = 1) -> [PerUserReport] {
        var tasks = a.tasks
        for t in b.tasks where !tasks.contains(t) { tasks.append(t) }
        return tasks.map { task in
            let scale = LabelScale(inferredFrom: a.labels(task: task) + b.labels(task: task))
            return PerUserReport(task: task, scale: scale, a: a.users(task: task), b: b.users(task: task), ks: ks,
                                 resamples: resamples, seed: seed)
        }
    }
}
