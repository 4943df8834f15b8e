/// When an entry stops being served.
public enum Expiry: Sendable, Equatable {
    /// Entries live until evicted or overwritten.
    case none
    /// An entry not written (support store) or touched (embeddings) for this long reads as
    /// absent and is reclaimed by the next ``EmbeddingStore/sweep()`` / ``SupportStore/sweep()``.
    case timeToLive(Duration)
}

/// What one sweep reclaimed and what it cost.
public struct SweepReport: Sendable, Equatable {
    /// Entries (embedding rows, or whole tasks of the support store) removed.
    public var entriesReclaimed = 0
    /// Support rows dropped (inside surviving tasks or with removed tasks); 0 for embeddings.
    public var rowsReclaimed = 0
    /// Entries examined — the cost measure, independent of live entries not yet due. Embeddings:
    /// rows of due pages (expired, or re-queued because touched since their append). Support
    /// store: expiry-queue references resolved plus, after a model-version change, the one pass
    /// over the tasks.
    public var entriesVisited = 0
    /// Tasks evicted by the memory bound during this sweep (support store).
    public var entriesEvicted = 0

    public init() {}

    static func += (a: inout SweepReport, b: SweepReport) {
        a.entriesReclaimed += b.entriesReclaimed
        a.rowsReclaimed += b.rowsReclaimed
        a.entriesVisited += b.entriesVisited
        a.entriesEvicted += b.entriesEvicted
    }
}
