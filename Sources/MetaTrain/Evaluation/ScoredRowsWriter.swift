/// Writes a *scored rows* file: one row per (query row, task) with the user, the task (label
/// name), that task's label and the variant's score. Every evaluated variant (MetaRec base and
/// fine-tuned, the baselines) writes one, and per-user metrics (GAUC, nDCG@K, recall@K) and
/// `metarec compare` read them.
///
/// ```
/// user,task,label,score
/// 42,like,1,0.8123
/// 42,rating,4.5,3.9871
/// ```
/// The header is exactly `user,task,label,score`. User ids and task names are RFC 4180-quoted
/// when needed; labels and scores are written in Swift's shortest round-trip form (`Double`
/// description; integral labels as integers), so a reader gets the exact value back. The file
/// appears atomically on ``close()`` (``CSVWriter``).
public final class ScoredRowsWriter {
    /// The header row.
    public static let header = ["user", "task", "label", "score"]

    private let writer: CSVWriter

    /// Rows written so far.
    public var rowCount: Int { writer.rowCount }

    /// Opens `path` (its directory must exist) and writes the header.
    /// - Throws: ``DatasetError/writeFailed(file:reason:)``.
    public init(path: String) throws {
        writer = try CSVWriter(path: path)
        try writer.writeHeader(Self.header)
    }

    /// Writes one row. A NaN label (missing) must not be written: callers skip those rows.
    public func write(user: String, task: String, label: Double, score: Double) throws {
        precondition(!label.isNaN, "ScoredRowsWriter: missing label for user \(user), task \(task)")
        writer.writeField(user)
        writer.writeField(task)
        if label == label.rounded(), abs(label) < 1e15 {
            writer.writeField(Int(label))
        } else {
            writer.writeField(label.description)
        }
        writer.writeField(score.description)
        try writer.endRow()
    }

    /// Flushes, fsyncs and renames the file into place.
    public func close() throws { try writer.close() }
}
