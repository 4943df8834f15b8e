import ModelDescription
import ModelMath

/// The task-key values of a log as written (`"17"`, `"alice"`), by the hashed key the encoder
/// gives the rows (``FeatureKey``, `hash(task-key column, value)`): the names under which
/// ``ScoredRows`` report users, so a baseline that never hashed anything can be paired with
/// `metarec eval`'s rows.
public struct TaskKeyNames: Sendable {
    /// The task-key column's name.
    public let column: String
    /// Value as written, by hashed task key.
    public private(set) var names: [UInt64: String] = [:]

    /// Reads the `column` field of every row of `path` (one tokenising pass; row-level errors
    /// such as a ragged row are skipped here, the encoding pass reports them).
    /// - Throws: ``DataError`` for an unreadable or empty file or a missing column.
    public init(path: String, column: String, options: CSVReadOptions = .init()) throws(DataError) {
        self.column = column
        let tokenizer = try CSVTokenizer(path: path, options: options)
        guard try tokenizer.nextRecord() else { throw .emptyFile(file: path) }
        let header = (0..<tokenizer.fieldCount).map(tokenizer.fieldString)
        guard let slot = header.firstIndex(of: column) else { throw .missingColumn(file: path, column: column, header: header) }
        let hasher = FeatureKeyHasher(feature: column)
        while true {
            do throws(DataError) {
                guard try tokenizer.nextRecord() else { break }
            } catch where error.isRowError {
                continue
            }
            guard slot < tokenizer.fieldCount else { continue }
            let key = hasher.hash(tokenizer.field(slot))
            if names[key] == nil { names[key] = tokenizer.fieldString(slot) }
        }
    }

    /// Names given directly (tests).
    public init(column: String, names: [UInt64: String]) {
        self.column = column
        self.names = names
    }

    /// The value that hashes to `key`, or `#` and the key in hexadecimal if no row had it.
    public func name(of key: UInt64) -> String { names[key] ?? "#" + String(key, radix: 16) }
}
