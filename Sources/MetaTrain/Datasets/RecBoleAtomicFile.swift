/// A RecBole atomic file (`.inter`, `.user`, `.item`): tab-separated, UTF-8, one header line of
/// `name:type` fields (`user_id:token`, `rating:float`, `class:token_seq`), then one record per
/// line. Small files only (read whole into strings).
struct RecBoleAtomicFile {
    /// Field names without their `:type` suffix, in file order.
    let names: [String]
    /// Records, each with `names.count` fields.
    let records: [[String]]
    /// The 1-based line of each record (for error messages).
    let lines: [Int]

    /// Reads `path`.
    /// - Throws: ``DatasetError/missingFile(path:)``, ``DatasetError/malformedLine(file:line:reason:)``
    ///   for an empty file or a record with the wrong field count.
    init(path: String) throws {
        var names: [String] = [], records: [[String]] = [], lines: [Int] = []
        var ranges: [Range<Int>] = []
        try LineReader.forEachLine(in: path) { line, number in
            if line.isEmpty { return }
            ByteFields.split(line, separator: [9], into: &ranges)
            let fields = ranges.map { ByteFields.text(line, $0) }
            if names.isEmpty {
                names = fields.map { String($0.split(separator: ":", maxSplits: 1).first ?? "") }
                return
            }
            guard fields.count == names.count else {
                throw DatasetError.malformedLine(file: path, line: number,
                                                 reason: "expected \(names.count) tab-separated fields, found \(fields.count)")
            }
            records.append(fields)
            lines.append(number)
        }
        guard !names.isEmpty else { throw DatasetError.malformedLine(file: path, line: 1, reason: "no header") }
        self.names = names
        self.records = records
        self.lines = lines
    }

    /// The index of field `name`.
    /// - Throws: ``DatasetError/malformedLine(file:line:reason:)`` naming the header when absent.
    func column(_ name: String, file: String) throws -> Int {
        guard let i = names.firstIndex(of: name) else {
            throw DatasetError.malformedLine(file: file, line: 1, reason: "no field \(name) in header \(names)")
        }
        return i
    }
}
