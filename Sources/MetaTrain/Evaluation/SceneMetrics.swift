import ModelDescription
import ModelMath

/// Metrics of one scene (or of a pool of scenes): per task the global metrics of its rows
/// (``TaskMetrics``: AUC/logloss for a binary task, RMSE/MAE for regression) and, for a binary
/// task, the GAUC over the users inside the scene (`docs/DESIGN.md` §Planned, "Cross-domain
/// ranking").
///
/// ```
/// AUC_s     = AUC of the rows of scene s
/// GAUC_s    = Σ_{u ∈ s} n_{u,s} · AUC_{u,s} / Σ_{u ∈ s} n_{u,s}
///             over the users u with both label classes among their rows in s;
///             n_{u,s} = the user's rows in s (a user seen in two scenes counts once in each)
/// share_s   = rows_s / Σ_s' rows_s'      (encoded rows, each row once whatever its task count)
/// small     ⇔ share_s < SceneMetrics.smallShare (5 %)
/// ```
public struct SceneGroupMetrics: Sendable {
    /// The scene's value as written, or `small scenes` / `large scenes` for a pool.
    public var name: String
    /// Rows of the group (each row once).
    public var rows: Int
    /// `rows / total rows`.
    public var share: Double
    /// Whether the group is a small scene (or the pool of small scenes).
    public var isSmall: Bool
    /// Scenes in the group (1 for a single scene).
    public var scenes: Int
    /// Per task, config order.
    public var tasks: [TaskMetrics]
    /// Per task, config order: the GAUC over users inside the group (binary tasks), else `nil`.
    public var gauc: [PerUserValues?]
}

/// Per-scene evaluation of one variant: every scene by descending traffic, then the small
/// scenes pooled and the large scenes pooled.
///
/// **Small-scene rule.** A scene is *small* when it holds fewer than ``smallShare`` (5 %) of the
/// evaluated rows. Small scenes are listed with a `small` flag and pooled into one `small
/// scenes` group (their rows together: one AUC, one GAUC over their users), so a model's
/// behaviour on the starved tail is one figure next to the head's (`large scenes`).
public struct SceneMetrics: Sendable {
    /// The share of rows under which a scene is small.
    public static let smallShare = 0.05
    /// The scene column.
    public var column: String
    /// One entry per scene, most rows first (ties by name).
    public var scenes: [SceneGroupMetrics]
    /// `small scenes` and `large scenes`, each present when it has a scene.
    public var pools: [SceneGroupMetrics]
}

/// Collects scored rows with their scene and user keys (hashed, as in ``EncodedBatch``) and
/// computes ``SceneMetrics``. Memory: 28 bytes per recorded row and task.
public struct SceneScoreCollector: Sendable {
    var scenes: [UInt64] = []
    var users: [UInt64] = []
    var tasks: [Int32] = []
    var labels: [Float] = []
    var scores: [Float] = []
    /// Encoded rows per scene key (each row once).
    var rowsPerScene: [UInt64: Int] = [:]

    /// An empty collector.
    public init() {}

    /// Counts one encoded row of scene `scene` (call once per row, whatever its task count).
    public mutating func countRow(scene: UInt64) { rowsPerScene[scene, default: 0] += 1 }

    /// Records one prediction of task `task`; a missing (NaN) label is not recorded.
    public mutating func add(scene: UInt64, user: UInt64, task: Int, label: Float, score: Float) {
        guard !label.isNaN else { return }
        scenes.append(scene)
        users.append(user)
        tasks.append(Int32(task))
        labels.append(label)
        scores.append(score)
    }

    /// The per-scene metrics; scenes named by `names` (the scene column's values as written).
    /// - Parameter kinds: each task's kind, config order.
    public func metrics(names: TaskKeyNames, kinds: [TaskKind]) -> SceneMetrics {
        let total = rowsPerScene.values.reduce(0, +)
        let keys = rowsPerScene.keys.sorted {
            (rowsPerScene[$0]!, names.name(of: $1)) > (rowsPerScene[$1]!, names.name(of: $0))
        }
        func isSmall(_ key: UInt64) -> Bool { Double(rowsPerScene[key]!) < SceneMetrics.smallShare * Double(total) }
        let perScene = keys.map { key in
            group(name: names.name(of: key), members: [key], small: isSmall(key), total: total, kinds: kinds)
        }
        var pools: [SceneGroupMetrics] = []
        let small = Set(keys.filter(isSmall)), large = Set(keys.filter { !isSmall($0) })
        if !small.isEmpty { pools.append(group(name: "small scenes", members: small, small: true, total: total, kinds: kinds)) }
        if !large.isEmpty { pools.append(group(name: "large scenes", members: large, small: false, total: total, kinds: kinds)) }
        return SceneMetrics(column: names.column, scenes: perScene, pools: pools)
    }

    private func group(name: String, members: Set<UInt64>, small: Bool, total: Int, kinds: [TaskKind]) -> SceneGroupMetrics {
        var accumulators = kinds.map { TaskMetricsAccumulator(kind: $0) }
        var byUser = kinds.map { _ in [String: UserRows]() }
        for i in scenes.indices where members.contains(scenes[i]) {
            let k = Int(tasks[i])
            accumulators[k].add(prediction: scores[i], label: labels[i])
            byUser[k][String(users[i], radix: 16), default: UserRows()].append(label: Double(labels[i]), score: Double(scores[i]))
        }
        let rows = members.reduce(0) { $0 + (rowsPerScene[$1] ?? 0) }
        let gauc: [PerUserValues?] = kinds.indices.map { k in
            kinds[k] == .binary ? PerUserValues(metric: .gauc, users: byUser[k], scale: .binary) : nil
        }
        return SceneGroupMetrics(name: name, rows: rows, share: total > 0 ? Double(rows) / Double(total) : .nan,
                                 isSmall: small, scenes: members.count, tasks: accumulators.map { $0.result() }, gauc: gauc)
    }
}
