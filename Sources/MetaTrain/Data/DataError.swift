/// A log file that cannot be read as configured.
///
/// ``description`` is one line, `file:line:column: reason`, where `line` is the 1-based
/// physical line of the file (counting line breaks inside quoted fields) and `column` the
/// 1-based *field* number (the CSV column), so the message points at the cell to fix.
/// File-level problems use line 1, column 1 (the header) or the line after the header.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file cannot be opened or read.
    case unreadable(file: String, reason: String)
    /// The gzip stream is corrupt or truncated.
    case corruptGzip(file: String, reason: String)
    /// No header row (the file is empty or holds only blank lines).
    case emptyFile(file: String)
    /// A header but no data rows; `line` is the line after the header.
    case headerOnly(file: String, line: Int)
    /// The header lacks a column the config names.
    case missingColumn(file: String, column: String, header: [String])
    /// A row with a different number of fields than the header; `column` is the first field
    /// that is extra (too many) or absent (too few).
    case raggedRow(file: String, line: Int, column: Int, fields: Int, expected: Int)
    /// A value the encoder rejects (a non-numeric number, a label that is not 0/1, …).
    case invalidValue(file: String, line: Int, column: Int, name: String, reason: String)
    /// A quoted field still open at the end of the file; `line` is where the quote opened.
    case unterminatedQuote(file: String, line: Int, column: Int)
    /// A closing quote followed by something other than a delimiter or a line break.
    case malformedQuote(file: String, line: Int, column: Int)
    /// Bytes that are not UTF-8.
    case invalidUTF8(file: String, line: Int, column: Int)
    /// A NUL byte (U+0000) in a field: valid UTF-8, but never meant in a text log (a binary or
    /// corrupt file, or UTF-16 read as bytes).
    case nulByte(file: String, line: Int, column: Int)
    /// A header column name that an earlier column already has (`column` is the later one):
    /// which of the two a config name means would be a guess.
    case duplicateColumn(file: String, column: Int, name: String, firstColumn: Int)
    /// More bad rows than `maxBadRows`; `last` is the row that went over the limit.
    indirect case tooManyBadRows(limit: Int, last: DataError)

    /// `true` for a problem confined to one row, which `maxBadRows` may skip.
    public var isRowError: Bool {
        switch self {
        case .raggedRow, .invalidValue, .malformedQuote, .invalidUTF8, .nulByte: true
        default: false
        }
    }

    /// The file the error is about.
    public var file: String {
        switch self {
        case .unreadable(let f, _), .corruptGzip(let f, _), .emptyFile(let f), .headerOnly(let f, _),
             .missingColumn(let f, _, _), .raggedRow(let f, _, _, _, _), .invalidValue(let f, _, _, _, _),
             .unterminatedQuote(let f, _, _), .malformedQuote(let f, _, _), .invalidUTF8(let f, _, _),
             .nulByte(let f, _, _), .duplicateColumn(let f, _, _, _):
            f
        case .tooManyBadRows(_, let last): last.file
        }
    }

    /// `(line, column)`, when the error has a position.
    public var position: (line: Int, column: Int)? {
        switch self {
        case .unreadable, .corruptGzip: nil
        case .emptyFile, .missingColumn: (1, 1)
        case .headerOnly(_, let line): (line, 1)
        case .raggedRow(_, let l, let c, _, _), .invalidValue(_, let l, let c, _, _),
             .unterminatedQuote(_, let l, let c), .malformedQuote(_, let l, let c), .invalidUTF8(_, let l, let c),
             .nulByte(_, let l, let c):
            (l, c)
        case .duplicateColumn(_, let column, _, _): (1, column)
        case .tooManyBadRows(_, let last): last.position
        }
    }

    /// The reason without the position.
    public var reason: String {
        switch self {
        case .unreadable(_, let r): "cannot read: \(r)"
        case .corruptGzip(_, let r): "corrupt gzip stream: \(r)"
        case .emptyFile: "empty file: no header row"
        case .headerOnly: "header only: no data rows"
        case .missingColumn(_, let column, let header):
            "missing column \"\(column)\" (header: \(header.prefix(20).joined(separator: ","))\(header.count > 20 ? ",…" : ""))"
        case .raggedRow(_, _, _, let fields, let expected):
            "ragged row: \(fields) field\(fields == 1 ? "" : "s"), the header has \(expected)"
        case .invalidValue(_, _, _, let name, let reason): "column \"\(name)\": \(reason)"
        case .unterminatedQuote: "unterminated quote: the quoted field opened here is still open at the end of the file"
        case .malformedQuote: "malformed quote: a closing quote must be followed by a delimiter or a line break"
        case .invalidUTF8: "invalid UTF-8"
        case .nulByte: "NUL byte in a field (a binary or UTF-16 file?)"
        case .duplicateColumn(_, _, let name, let first): "duplicate column \"\(name)\" in the header (also column \(first))"
        case .tooManyBadRows(let limit, let last): "\(last.reason) (more than max_bad_rows = \(limit) bad rows)"
        }
    }

    /// `file:line:column: reason`.
    public var description: String {
        if let (line, column) = position { return "\(file):\(line):\(column): \(reason)" }
        return "\(file): \(reason)"
    }
}
