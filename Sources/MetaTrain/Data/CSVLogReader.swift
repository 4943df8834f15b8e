import ModelDescription
import ModelMath

/// Streams a CSV log (plain or gzip) as ``EncodedBatch``es: maps the header to the encoder's
/// columns, encodes each row, and skips up to ``CSVReadOptions/maxBadRows`` bad rows.
///
/// ```swift
/// let reader = try CSVLogReader(path: "train.csv.gz", encoder: encoder)
/// while let batch = try reader.nextBatch(maxRows: 512) { train(on: batch) }
/// print(reader.badRowCount)
/// ```
/// Memory is bounded by the tokenizer's buffer (`chunkSize + longest row`) plus one batch,
/// independent of the file size. Not thread-safe; a reader can run on a producer thread and
/// hand its batches (which are `Sendable`) to the trainer.
public final class CSVLogReader {
    /// The file path.
    public let file: String
    /// The encoder rows are encoded with.
    public let encoder: FeatureEncoder
    /// The header's column names, in file order.
    public let header: [String]
    /// The tokenizer (exposed for its buffer statistics).
    public let tokenizer: CSVTokenizer
    let options: CSVReadOptions
    /// Header index of each encoder slot (`encoder.columns[i]` is header column `columnIndex[i]`).
    let columnIndex: [Int]
    var fields: [UnsafeRawBufferPointer]
    var scratch = FeatureEncoder.Scratch()
    /// The first data record has been read (to detect a header-only file) but not yet encoded.
    var pendingRecord: Bool
    /// Data rows encoded into batches.
    public private(set) var rowCount = 0
    /// Bad rows skipped.
    public private(set) var badRowCount = 0
    /// The errors of the first ``CSVReadOptions/keptBadRowErrors`` skipped rows.
    public private(set) var badRowErrors: [DataError] = []

    /// Opens `path`, reads the header and checks that every column the encoder needs is there
    /// and that at least one data row follows.
    ///
    /// - Throws: ``DataError/emptyFile(file:)``, ``DataError/duplicateColumn(file:column:name:firstColumn:)``,
    ///   ``DataError/missingColumn(file:column:header:)``, ``DataError/headerOnly(file:line:)``,
    ///   read and gzip errors.
    public convenience init(path: String, encoder: FeatureEncoder, options: CSVReadOptions = .init()) throws(DataError) {
        try self.init(tokenizer: CSVTokenizer(path: path, options: options), encoder: encoder, options: options)
    }

    package init(tokenizer: CSVTokenizer, encoder: FeatureEncoder, options: CSVReadOptions) throws(DataError) {
        self.file = tokenizer.file
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.options = options
        guard try tokenizer.nextRecord() else { throw .emptyFile(file: tokenizer.file) }
        let header = try tokenizer.headerNames()
        self.header = header
        var position: [String: Int] = [:]
        for (i, name) in header.enumerated() { position[name] = i }
        var index: [Int] = []
        for column in encoder.columns {
            guard let i = position[column] else {
                throw .missingColumn(file: tokenizer.file, column: column, header: header)
            }
            index.append(i)
        }
        columnIndex = index
        fields = Array(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: index.count)
        let afterHeader = max(tokenizer.nextLine, tokenizer.line + 1)  // also without a final newline
        pendingRecord = false
        do {
            pendingRecord = try tokenizer.nextRecord()
        } catch let error where error.isRowError {
            // A bad first row still means the file has data; it is counted when it is reached.
            try note(error)
            pendingRecord = try Self.firstGoodRecord(tokenizer, reader: self)
        }
        guard pendingRecord || badRowCount > 0 else { throw .headerOnly(file: tokenizer.file, line: afterHeader) }
    }

    private static func firstGoodRecord(_ t: CSVTokenizer, reader: CSVLogReader) throws(DataError) -> Bool {
        while true {
            do { return try t.nextRecord() } catch let error where error.isRowError { try reader.note(error) }
        }
    }

    /// Counts a bad row, or rethrows it when the budget is spent.
    func note(_ error: DataError) throws(DataError) {
        guard error.isRowError else { throw error }
        guard badRowCount < options.maxBadRows else {
            throw options.maxBadRows == 0 ? error : .tooManyBadRows(limit: options.maxBadRows, last: error)
        }
        badRowCount += 1
        if badRowErrors.count < options.keptBadRowErrors { badRowErrors.append(error) }
    }

    /// Encodes up to `maxRows` rows into `batch` (cleared first, capacity kept).
    ///
    /// - Returns: the rows read; 0 at the end of the file.
    /// - Throws: ``DataError`` for a bad row beyond the ``CSVReadOptions/maxBadRows`` budget
    ///   (with `file:line:column`), or a file-level problem.
    @discardableResult
    public func read(into batch: inout EncodedBatch, maxRows: Int) throws(DataError) -> Int {
        precondition(maxRows > 0, "read(into:maxRows:): maxRows \(maxRows)")
        batch.removeAll()
        while batch.count < maxRows {
            if pendingRecord {
                pendingRecord = false
            } else {
                do {
                    guard try tokenizer.nextRecord() else { break }
                } catch let error where error.isRowError {
                    try note(error)
                    continue
                }
            }
            do {
                try encodeCurrentRecord(into: &batch)
                rowCount += 1
            } catch {
                try note(error)
            }
        }
        return batch.count
    }

    /// The next batch of up to `maxRows` rows, or `nil` at the end of the file.
    public func nextBatch(maxRows: Int) throws(DataError) -> EncodedBatch? {
        var batch = encoder.makeBatch(reservingRows: maxRows)
        return try read(into: &batch, maxRows: maxRows) > 0 ? batch : nil
    }

    /// Encodes the tokenizer's current record into `batch`.
    func encodeCurrentRecord(into batch: inout EncodedBatch) throws(DataError) {
        try mapFields()
        do {
            try fields.withUnsafeBufferPointer { (f) throws(FeatureEncoderError) in
                try encoder.encodeRow(f, into: &batch, scratch: &scratch)
            }
        } catch {
            throw positioned(error)
        }
    }

    /// Parses the current record into the scratch without keeping it (the fitting pass).
    func parseCurrentRecord() throws(DataError) {
        try mapFields()
        do {
            try fields.withUnsafeBufferPointer { (f) throws(FeatureEncoderError) in
                try encoder.parseRow(f, into: &scratch)
            }
        } catch {
            throw positioned(error)
        }
    }

    @inline(__always)
    private func mapFields() throws(DataError) {
        let t = tokenizer
        guard t.fieldCount == header.count else {
            throw .raggedRow(file: file, line: t.line, column: min(t.fieldCount, header.count) + 1,
                             fields: t.fieldCount, expected: header.count)
        }
        for i in 0..<columnIndex.count { fields[i] = t.field(columnIndex[i]) }
    }

    private func positioned(_ error: FeatureEncoderError) -> DataError {
        switch error {
        case .invalidValue(let column, let slot, let reason):
            .invalidValue(file: file, line: tokenizer.line, column: columnIndex[slot] + 1, name: column, reason: reason)
        case .missingStatistics:
            .invalidValue(file: file, line: tokenizer.line, column: 1, name: "", reason: error.reason)
        }
    }
}
