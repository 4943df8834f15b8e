/// A CSV log read whole into memory as text cells, each row with its physical line number,
/// for the evaluation commands that work user by user (`metarec baseline`, `metarec eval-cold`).
///
/// Reads through ``CSVTokenizer`` (RFC 4180, LF or CRLF, gzip), so malformed input is reported
/// as ``DataError`` at `file:line:column`. Columns the caller does not keep are skipped; a
/// kept column missing from the header is ``DataError/missingColumn(file:column:header:)``.
///
/// - Complexity: O(file size); memory ≈ the kept cells as `String`s (fine for held-out files
///   and ml-latest-small-sized training logs, not for logs larger than memory).
public struct CSVTable: Sendable {
    /// The file path.
    public let file: String
    /// Names of the kept columns, in the order of ``rows``' cells.
    public let columns: [String]
    /// Header index (0-based field number) of each kept column.
    public let fieldIndex: [Int]
    /// Row-major cells: `rows[r][c]` is column `columns[c]` of data row `r`.
    public private(set) var rows: [[String]] = []
    /// Physical line (1-based) of each data row, for error messages.
    public private(set) var lines: [Int] = []

    /// Reads `path`, keeping `columns` (every column of the header when `nil`).
    ///
    /// - Throws: ``DataError``: unreadable or corrupt files, an empty file, a header without
    ///   data rows, a duplicated or missing column, ragged rows, malformed quotes, invalid UTF-8,
    ///   NUL bytes.
    public init(path: String, columns wanted: [String]? = nil) throws(DataError) {
        let tokenizer = try CSVTokenizer(path: path)
        file = tokenizer.file
        guard try tokenizer.nextRecord() else { throw .emptyFile(file: file) }
        let header = try tokenizer.headerNames()
        var position: [String: Int] = [:]
        for (i, name) in header.enumerated() { position[name] = i }
        let names = wanted ?? header
        var index: [Int] = []
        for name in names {
            guard let i = position[name] else { throw .missingColumn(file: file, column: name, header: header) }
            index.append(i)
        }
        columns = names
        fieldIndex = index
        let afterHeader = max(tokenizer.nextLine, tokenizer.line + 1)
        while try tokenizer.nextRecord() {
            guard tokenizer.fieldCount == header.count else {
                throw .raggedRow(file: file, line: tokenizer.line, column: min(tokenizer.fieldCount, header.count) + 1,
                                 fields: tokenizer.fieldCount, expected: header.count)
            }
            rows.append(index.map { tokenizer.fieldString($0) })
            lines.append(tokenizer.line)
        }
        guard !rows.isEmpty else { throw .headerOnly(file: file, line: afterHeader) }
    }

    /// The position of column `name` in ``columns``, or `nil`.
    public func column(named name: String) -> Int? { columns.firstIndex(of: name) }

    /// The number in row `row`, column `column` (an empty cell is `nil`).
    /// - Throws: ``DataError/invalidValue(file:line:column:name:reason:)`` naming the cell when it
    ///   is not a finite number.
    public func number(row: Int, column: Int) throws(DataError) -> Double? {
        let text = rows[row][column].trimmingSpaces
        if text.isEmpty { return nil }
        guard let value = Double(text), value.isFinite else {
            throw .invalidValue(file: file, line: lines[row], column: fieldIndex[column] + 1, name: columns[column],
                                reason: "not a number: \"\(rows[row][column])\"")
        }
        return value
    }

    /// An ``DataError/invalidValue(file:line:column:name:reason:)`` for row `row`, column `column`.
    public func invalidValue(row: Int, column: Int, reason: String) -> DataError {
        .invalidValue(file: file, line: lines[row], column: fieldIndex[column] + 1, name: columns[column], reason: reason)
    }
}

extension String {
    /// Without leading and trailing ASCII spaces and tabs.
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
