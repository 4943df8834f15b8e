/// Settings of the per-user metrics of `metarec eval` (`docs/DESIGN.md` §Personalisation).
public struct PerUserOptions: Sendable, Equatable {
    /// Cut-offs K of nDCG@K and recall@K.
    public var ks: [Int]
    /// Paired bootstrap resamples.
    public var resamples: Int
    /// Paired bootstrap seed.
    public var seed: UInt64

    /// Settings; `ks` non-empty with every K ≥ 1, `resamples` ≥ 1.
    public init(ks: [Int] = [5, 10], resamples: Int = PairedBootstrap.defaultResamples, seed: UInt64 = 1) {
        precondition(!ks.isEmpty && ks.allSatisfy { $0 >= 1 }, "PerUserOptions: cut-offs \(ks) must be >= 1")
        precondition(resamples >= 1, "PerUserOptions: resamples = \(resamples)")
        self.ks = ks
        self.resamples = resamples
        self.seed = seed
    }
}

/// Per-user reports of one group of users (all, or one activity bucket), one per task.
public struct PerUserGroup: Sendable {
    /// `all`, or an activity bucket's name (`0`, `1-5`, …).
    public var name: String
    /// One report per task, config (or file) order.
    public var reports: [PerUserReport]

    /// A group of reports.
    public init(name: String, reports: [PerUserReport]) {
        self.name = name
        self.reports = reports
    }
}

/// `metarec eval` with per-user metrics: the global metrics (per group with fine-tuning), the
/// per-user reports, and the scored rows of each variant.
public struct PerUserEvaluation: Sendable {
    /// Label names, config order.
    public var tasks: [String]
    /// The model's task-key column: what a "user" is here.
    public var taskKey: String
    /// Global metrics: one group `all` with `base` (and `fineTuned` equal to it when not
    /// fine-tuned), or `all` and the activity buckets with fine-tuning.
    public var groups: [FineTuneComparison]
    /// Per-user reports with the same group names; variant A = base, B = fine-tuned.
    public var perUser: [PerUserGroup]
    /// The base model's scored rows.
    public var base: ScoredRows
    /// The fine-tuned model's scored rows (fine-tuned evaluation only).
    public var fineTuned: ScoredRows?
    /// The base model's metrics per scene, when the model's config names a `scene` column.
    public var scenes: SceneMetrics? = nil

    /// A result given directly (tests, the CLI's output tests).
    public init(tasks: [String], taskKey: String, groups: [FineTuneComparison], perUser: [PerUserGroup],
                base: ScoredRows, fineTuned: ScoredRows?) {
        self.tasks = tasks
        self.taskKey = taskKey
        self.groups = groups
        self.perUser = perUser
        self.base = base
        self.fineTuned = fineTuned
    }
}
