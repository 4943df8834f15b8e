/// Each task's newest support rows as the encoder needs them — source key and weighting label
/// — kept while rows go past in event order, so that a row is encoded from its task's *strictly
/// earlier* rows (never itself: its label would leak).
///
/// One type for training, evaluation and serving: a training or evaluation pass feeds the log's
/// chunks in file order (the log is in event order per task, as `metarec datasets` writes it,
/// and ties keep file order); serving ``seed(task:keys:labels:)``s each user from the support
/// store, then feeds the request's events in order. Memory: `tasks × S_max × 12` bytes.
public struct SupportHistory: Sendable {
    public let encoder: SupportEncoder
    /// Per task: keys and labels of its newest `S_max` rows, oldest first.
    private var rings: [UInt64: (keys: [UInt64], labels: [Float])] = [:]
    private var weights: [Float] = []

    public init(encoder: SupportEncoder) {
        self.encoder = encoder
    }

    /// Number of tasks seen.
    public var taskCount: Int { rings.count }

    /// Replaces `task`'s rows with `keys` / `labels` (oldest first), e.g. from the support store.
    public mutating func seed(task: UInt64, keys: some Collection<UInt64>, labels: some Collection<Float>) {
        precondition(keys.count == labels.count, "SupportHistory.seed: \(keys.count) keys, \(labels.count) labels")
        rings[task] = (Array(keys.suffix(encoder.capacity)), Array(labels.suffix(encoder.capacity)))
    }

    /// `task`'s rows (keys and weighting labels, oldest first); empty for an unseen task.
    public func rows(of task: UInt64) -> (keys: [UInt64], labels: [Float]) {
        rings[task] ?? ([], [])
    }

    /// Records every row of `batch` in order, as ``attach(to:)`` does, without building pools.
    public mutating func record(_ batch: EncodedBatch) {
        let fc = batch.categoricalWidth, k = batch.labelWidth
        precondition(encoder.sourceColumn < fc && (encoder.labelColumn ?? 0) < k,
                     "SupportHistory.record: source column \(encoder.sourceColumn) of \(fc), label \(encoder.labelColumn ?? 0) of \(k)")
        for r in 0..<batch.count {
            let label = encoder.labelColumn.map { batch.labels[r * k + $0] } ?? .nan
            record(task: batch.taskKeys[r], key: batch.categorical[r * fc + encoder.sourceColumn], label: label)
        }
    }

    /// Records one row of `task` (its source key and weighting label) as the newest.
    public mutating func record(task: UInt64, key: UInt64, label: Float) {
        let capacity = encoder.capacity
        rings[task, default: ([], [])].keys.append(key)
        rings[task]!.labels.append(label)
        if rings[task]!.keys.count > capacity {
            rings[task]!.keys.removeFirst()
            rings[task]!.labels.removeFirst()
        }
    }

    /// Appends one bag per pool for `task`'s current rows to `columns` (nothing recorded).
    public mutating func appendBags(task: UInt64, to columns: inout [MultiCategoricalColumn]) {
        let ring = rings[task] ?? ([], [])
        encoder.appendBags(keys: ring.keys[...], labels: ring.labels[...], to: &columns, weights: &weights)
    }

    /// Appends the encoder's columns to `batch` (which must not have them yet): row `r` pools its
    /// task's rows before it — the history so far, then the batch's earlier rows of that task —
    /// and is then recorded itself.
    ///
    /// - Complexity: `O(B · S_max · P)`.
    public mutating func attach(to batch: inout EncodedBatch) {
        let fc = batch.categoricalWidth, k = batch.labelWidth
        precondition(encoder.sourceColumn < fc && (encoder.labelColumn ?? 0) < k,
                     "SupportHistory.attach: source column \(encoder.sourceColumn) of \(fc), label \(encoder.labelColumn ?? 0) of \(k)")
        var columns = encoder.makeColumns()
        for r in 0..<batch.count {
            let task = batch.taskKeys[r]
            appendBags(task: task, to: &columns)
            let label = encoder.labelColumn.map { batch.labels[r * k + $0] } ?? .nan
            record(task: task, key: batch.categorical[r * fc + encoder.sourceColumn], label: label)
        }
        batch.multiCategorical.append(contentsOf: columns)
    }

    /// Appends the encoder's columns to `batch` for rows that are candidates, not events (a score
    /// request): rows `rowOffsets[r] ..< rowOffsets[r + 1]` pool `tasks[r]`'s current rows, and
    /// nothing is recorded.
    public mutating func attachCandidates(to batch: inout EncodedBatch, rowOffsets: [Int], tasks: [UInt64]) {
        precondition(rowOffsets.count == tasks.count + 1 && rowOffsets.last == batch.count,
                     "SupportHistory.attachCandidates: \(rowOffsets.count) offsets, \(tasks.count) tasks, \(batch.count) rows")
        var columns = encoder.makeColumns()
        for (r, task) in tasks.enumerated() {
            for _ in rowOffsets[r]..<rowOffsets[r + 1] { appendBags(task: task, to: &columns) }
        }
        batch.multiCategorical.append(contentsOf: columns)
    }
}
