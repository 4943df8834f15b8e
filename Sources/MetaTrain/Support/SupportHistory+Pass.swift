import ModelMath

extension SupportHistory {
    /// The history at the end of a pass over `stream` (file order): each task's newest `S_max`
    /// rows of the log. Training seeds its validation pass with the training log's, so a
    /// validation row pools its user's training rows before the earlier validation rows — what
    /// `metarec eval` and serving see through the support store.
    ///
    /// - Complexity: one pass over the log; memory `tasks × S_max × 12` bytes.
    public static func afterPass(over stream: inout some BatchStream, encoder: SupportEncoder) throws -> SupportHistory {
        var history = SupportHistory(encoder: encoder)
        while let batch = try stream.next() { history.record(batch) }
        return history
    }
}
