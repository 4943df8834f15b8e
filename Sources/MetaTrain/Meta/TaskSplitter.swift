import ModelDescription
import ModelMath
import TensorCore

/// One meta-learning task formed inside a batch: its rows split into support and query.
public struct InBatchTask: Sendable, Equatable {
    /// The task-key hash (a user, crowd, scene, …).
    public var key: UInt64
    /// Batch rows of the support set, in time order when a time column exists.
    public var support: [Int]
    /// Batch rows of the query set.
    public var query: [Int]
}

/// In-batch task formation (`docs/DESIGN.md` §Math): group a batch's rows by the task-key column;
/// a task with at least `minimumRows` rows is split into support and query — by time when the
/// config has a time column (earlier rows support, later rows query), otherwise by a seeded
/// shuffle. `|S| = clamp(round(fraction · n), 1, n − 1)`, so neither set is ever empty. Rows of
/// smaller tasks still count in the base loss.
public struct TaskSplitter: Sendable {
    public var minimumRows: Int
    public var supportFraction: Double
    public var splitsByTime: Bool

    public init(minimumRows: Int, supportFraction: Double, splitsByTime: Bool) {
        precondition(supportFraction > 0 && supportFraction < 1, "TaskSplitter: support fraction \(supportFraction) must be in (0, 1)")
        self.minimumRows = max(minimumRows, 2)
        self.supportFraction = supportFraction
        self.splitsByTime = splitsByTime
    }

    /// The batch's tasks, ordered by key (so the result does not depend on row order).
    public func tasks(of batch: EncodedBatch, rng: inout SeededRandom) -> [InBatchTask] {
        var groups: [UInt64: [Int]] = [:]
        for r in 0..<batch.count { groups[batch.taskKeys[r], default: []].append(r) }
        var tasks: [InBatchTask] = []
        for key in groups.keys.sorted() {
            var rows = groups[key]!
            guard rows.count >= minimumRows else { continue }
            if splitsByTime {
                // Equal timestamps keep batch order.
                rows.sort { (batch.timestamps[$0], $0) < (batch.timestamps[$1], $1) }
            } else {
                rows.sort()
                rows.shuffle(using: &rng)
            }
            let s = min(max(Int((supportFraction * Double(rows.count)).rounded()), 1), rows.count - 1)
            tasks.append(InBatchTask(key: key, support: Array(rows[..<s]), query: Array(rows[s...])))
        }
        return tasks
    }
}
