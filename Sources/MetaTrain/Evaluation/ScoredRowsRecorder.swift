/// Collects an evaluation's predictions row by row, keyed by the hashed task key, for
/// ``ScoredRows`` and the per-user metrics. With fine-tuning it keeps both variants and each
/// task key's activity bucket.
///
/// Memory: 16 bytes per recorded row and variant (key, task index, label, score).
public struct ScoredRowsRecorder: Sendable {
    /// One variant's rows as parallel arrays.
    struct Columns: Sendable {
        var keys: [UInt64] = []
        var tasks: [Int32] = []
        var labels: [Float] = []
        var scores: [Float] = []
    }

    /// Whether ``add(taskKey:task:fineTuned:label:score:)`` keeps anything.
    public let isEnabled: Bool
    var base = Columns()
    var fineTuned = Columns()
    /// Each task key's activity bucket (an index into ``FineTunedEvaluation/buckets``).
    public internal(set) var buckets: [UInt64: Int] = [:]

    /// A recorder; a disabled one keeps nothing (``FineTunedEvaluation/run(stream:)``).
    public init(enabled: Bool = true) { isEnabled = enabled }

    /// Records one prediction; a missing (NaN) label is not recorded, as in the metrics.
    public mutating func add(taskKey: UInt64, task: Int, fineTuned tuned: Bool = false, label: Float, score: Float) {
        guard isEnabled, !label.isNaN else { return }
        if tuned { Self.append(&fineTuned, taskKey, task, label, score) } else { Self.append(&base, taskKey, task, label, score) }
    }

    /// Records a task key's activity bucket.
    public mutating func assign(taskKey: UInt64, bucket: Int) {
        guard isEnabled else { return }
        buckets[taskKey] = bucket
    }

    private static func append(_ c: inout Columns, _ key: UInt64, _ task: Int, _ label: Float, _ score: Float) {
        c.keys.append(key)
        c.tasks.append(Int32(task))
        c.labels.append(label)
        c.scores.append(score)
    }

    /// Whether any fine-tuned row was recorded.
    public var hasFineTuned: Bool { !fineTuned.keys.isEmpty }

    /// One variant's rows, users named by `names`, tasks by `taskNames` (config order).
    public func rows(fineTuned tuned: Bool, names: TaskKeyNames, taskNames: [String]) -> ScoredRows {
        let c = tuned ? fineTuned : base
        var cache: [UInt64: String] = [:]
        return ScoredRows(rows: c.keys.indices.map { i in
            let key = c.keys[i]
            let user = cache[key] ?? names.name(of: key)
            cache[key] = user
            return ScoredRows.Row(user: user, task: taskNames[Int(c.tasks[i])], label: Double(c.labels[i]), score: Double(c.scores[i]))
        })
    }
}
