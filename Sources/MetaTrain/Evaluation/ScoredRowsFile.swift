/// The scored-rows file: one CSV per variant, read and written here.
///
/// ```
/// user,task,label,score
/// 17,like,1,0.8312
/// 17,rating,4.5,3.9071
/// "Smith, J.",like,0,0.1204
/// ```
/// - One line per scored row and task; columns found by name in the header (any order; other
///   columns ignored); RFC 4180 quoting; plain or gzip.
/// - `user`: the task-key value (user, crowd, …) as written in the log; `task`: the label's
///   name; `label`: the observed label (0/1 for binary tasks, the grade for graded ones);
///   `score`: the prediction, higher = ranked earlier. Labels and scores are finite decimal
///   numbers (Swift `Double` syntax: `1`, `0.25`, `3e-05`).
/// - A task whose labels are all 0 or 1 is read as binary (GAUC, nDCG@K, recall@K), any other
///   as graded (nDCG@K with gain 2^r − 1); see ``LabelScale``.
///
/// Bad input throws ``DataError`` with `file:line:column` (column = 1-based field number).
public enum ScoredRowsFile {
    /// The header written, and the columns a file must have.
    public static let columns = ["user", "task", "label", "score"]

    /// Writes `rows` to `path` atomically (the file appears complete or not at all).
    /// Integral numbers are written as integers, exact `Float`s (`metarec eval`'s predictions)
    /// in `Float`'s shortest form (`0.1`, not `0.10000000149011612`), other values in `Double`'s.
    /// A `Float` written so reads back as the nearest `Double` to its digits, which converts back
    /// to the same `Float`; distinct `Float`s stay distinct and ordered, so every ranking metric
    /// (and every tie) is the same from the file as in memory.
    public static func write(_ rows: ScoredRows, to path: String) throws {
        let writer = try CSVWriter(path: path)
        try writer.writeHeader(columns)
        for row in rows.rows {
            writer.writeField(row.user)
            writer.writeField(row.task)
            writer.writeField(number(row.label))
            writer.writeField(number(row.score))
            try writer.endRow()
        }
        try writer.close()
    }

    /// Shortest text that reads back as `x`: an integer, a `Float`'s or a `Double`'s digits.
    static func number(_ x: Double) -> String {
        if x.isFinite, x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        if let f = Float(exactly: x) { return f.description }
        return x.description
    }

    /// Reads one file.
    /// - Throws: ``DataError``: `unreadable`, `emptyFile`, `headerOnly`, `missingColumn`,
    ///   `raggedRow`, `invalidValue` (a label or score that is not a finite number, an empty
    ///   user or task), and the tokenizer's quoting and UTF-8 errors.
    public static func read(path: String) throws(DataError) -> ScoredRows {
        try readPositioned(path: path).rows
    }

    /// ``read(path:)`` plus each row's physical line and the `user` column's field number.
    static func readPositioned(path: String) throws(DataError) -> (rows: ScoredRows, lines: [Int], userColumn: Int) {
        let tokenizer = try CSVTokenizer(path: path)
        guard try tokenizer.nextRecord() else { throw .emptyFile(file: path) }
        let header = try tokenizer.headerNames()
        var slot: [Int] = []
        for name in columns {
            guard let i = header.firstIndex(of: name) else { throw .missingColumn(file: path, column: name, header: header) }
            slot.append(i)
        }
        var out = ScoredRows(), lines: [Int] = []
        while try tokenizer.nextRecord() {
            let line = tokenizer.line
            lines.append(line)
            guard tokenizer.fieldCount == header.count else {
                throw .raggedRow(file: path, line: line, column: min(tokenizer.fieldCount, header.count) + 1,
                                 fields: tokenizer.fieldCount, expected: header.count)
            }
            func text(_ c: Int) throws(DataError) -> String {
                let s = tokenizer.fieldString(slot[c])
                guard !s.isEmpty else {
                    throw .invalidValue(file: path, line: line, column: slot[c] + 1, name: columns[c], reason: "empty value")
                }
                return s
            }
            func number(_ c: Int) throws(DataError) -> Double {
                let s = try text(c)
                guard let x = Double(s), x.isFinite else {
                    throw .invalidValue(file: path, line: line, column: slot[c] + 1, name: columns[c],
                                        reason: "not a finite number: \"\(s.prefix(40))\"")
                }
                return x
            }
            out.rows.append(ScoredRows.Row(user: try text(0), task: try text(1), label: try number(2), score: try number(3)))
        }
        guard !out.rows.isEmpty else { throw .headerOnly(file: path, line: 2) }
        return (out, lines, slot[0] + 1)
    }

    /// Reads several files of one variant (e.g. one per cross-validation fold) as one.
    /// - Throws: ``DataError/invalidValue(file:line:column:name:reason:)`` at a user's first row
    ///   in a file when an earlier file already holds that user (folds hold disjoint users, so
    ///   this is a file listed twice or a wrong fold), and every error of ``read(path:)``.
    public static func read(paths: [String]) throws(DataError) -> ScoredRows {
        var out = ScoredRows()
        var owner: [String: String] = [:]   // user → the file that holds them
        for path in paths {
            let (rows, lines, userColumn) = try readPositioned(path: path)
            var mine = Set<String>()
            for (i, row) in rows.rows.enumerated() where mine.insert(row.user).inserted {
                if let other = owner[row.user] {
                    throw .invalidValue(file: path, line: lines[i], column: userColumn, name: "user",
                                        reason: "user \"\(row.user)\" is also in \(other) (the files of one side must hold disjoint users)")
                }
            }
            for user in mine { owner[user] = path }
            out.append(contentsOf: rows)
        }
        return out
    }
}
