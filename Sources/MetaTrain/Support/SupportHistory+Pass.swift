import ModelMath

extension SupportHistory {
    /// The history at the end of a pass over `stream` (file order) of the tasks in `tasks`: each
    /// one's newest `S_max` rows of the log. Training seeds its validation pass with the training
    /// log's history of the validation users, so a validation row pools its user's training rows
    /// before the earlier validation rows — what `metarec eval` and serving see through the
    /// support store.
    ///
    /// - Complexity: one pass over the log; memory `|tasks| × S_max × 12` bytes at most.
    public static func afterPass(over stream: inout some BatchStream, encoder: SupportEncoder,
                                 tasks: Set<UInt64>) throws -> SupportHistory {
        var history = SupportHistory(encoder: encoder)
        while var batch = try stream.next() {
            let rows = (0..<batch.count).filter { tasks.contains(batch.taskKeys[$0]) }
            guard !rows.isEmpty else { continue }
            if rows.count < batch.count { batch = batch.selecting(rows: rows) }
            history.record(batch)
        }
        return history
    }

    /// The task keys of every row of `stream`.
    public static func taskKeys(of stream: inout some BatchStream) throws -> Set<UInt64> {
        var keys = Set<UInt64>()
        while let batch = try stream.next() { keys.formUnion(batch.taskKeys) }
        return keys
    }
}
