#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// Splits a CSV byte stream into records and fields without building a `String` per field.
///
/// RFC 4180: fields separated by a one-byte delimiter; a field that starts with `"` is quoted
/// and may hold delimiters, line breaks and doubled quotes (`""` → `"`); records end with LF
/// or CRLF (a lone CR is an ordinary byte). A quote inside an unquoted field is taken
/// literally. Empty lines are skipped; a missing final line break is fine; a UTF-8 byte-order
/// mark at the start is skipped. Every record's bytes are validated as UTF-8.
///
/// Memory: one buffer, refilled `chunkSize` bytes at a time from the (possibly gzip) source;
/// the unread tail of a record is moved to the front before each refill, so the buffer never
/// exceeds `chunkSize + longest record` (``bufferCapacity``), whatever the file size.
///
/// ```swift
/// let t = try CSVTokenizer(path: "train.csv")
/// while try t.nextRecord() {
///     for i in 0..<t.fieldCount { use(t.field(i)) }   // valid until the next nextRecord()
/// }
/// ```
/// Not thread-safe: one tokenizer per thread.
public final class CSVTokenizer {
    /// The file path (for messages).
    public let file: String
    let source: any ByteSource
    let delimiter: UInt8
    let trimsLeadingSpaces: Bool
    let chunkSize: Int

    var buffer: UnsafeMutablePointer<UInt8>
    /// Bytes allocated for the read buffer (≤ `chunkSize` + the longest record seen).
    public private(set) var bufferCapacity: Int
    /// First byte of the next record.
    var start = 0
    /// Bytes of valid data in the buffer.
    var end = 0
    var endOfInput = false
    var atFileStart = true
    /// After a malformed quote the rest of that line is dropped before the next record.
    var resynchronising = false

    var spans: UnsafeMutablePointer<FieldSpan>
    var spanCapacity = 64
    /// Number of fields in the current record.
    public internal(set) var fieldCount = 0
    /// 1-based line where the current record starts.
    public internal(set) var line = 0
    /// Line where the next record starts.
    var nextLine = 1
    /// Bytes in the longest record so far (line breaks included).
    public private(set) var longestRecord = 0
    /// Records returned so far (the header included).
    public private(set) var recordCount = 0
    var hasher = ContentHasher()

    struct FieldSpan {
        var start: Int
        var end: Int
        var escaped: Bool
    }

    static let quote = UInt8(ascii: "\"")
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D

    /// Opens `path` (plain or gzip, detected by its first bytes).
    ///
    /// - Throws: ``DataError/unreadable(file:reason:)``, ``DataError/corruptGzip(file:reason:)``.
    public convenience init(path: String, options: CSVReadOptions = .init()) throws(DataError) {
        self.init(source: try openByteSource(path: path), file: path, options: options)
    }

    package init(source: any ByteSource, file: String, options: CSVReadOptions) {
        self.file = file
        self.source = source
        delimiter = options.delimiter
        trimsLeadingSpaces = options.trimsLeadingSpaces
        chunkSize = options.chunkSize
        bufferCapacity = options.chunkSize
        buffer = .allocate(capacity: options.chunkSize)
        spans = .allocate(capacity: spanCapacity)
    }

    deinit {
        buffer.deallocate()
        spans.deallocate()
    }

    /// The bytes of field `i` of the current record (quotes removed, `""` unescaped).
    /// Valid until the next call of ``nextRecord()``.
    @inline(__always)
    public func field(_ i: Int) -> UnsafeRawBufferPointer {
        precondition(i >= 0 && i < fieldCount, "field \(i) of \(fieldCount)")
        let s = spans[i]
        return UnsafeRawBufferPointer(start: buffer + s.start, count: s.end - s.start)
    }

    /// Field `i` as a `String` (header names, messages).
    public func fieldString(_ i: Int) -> String {
        String(decoding: field(i), as: UTF8.self)
    }

    /// Fingerprint of the bytes read so far (the whole content once ``nextRecord()`` returned false).
    public func fingerprint(rows: Int) -> DataFingerprint {
        DataFingerprint(contentHash: hasher.finalize(), bytes: hasher.length, rows: rows)
    }

    /// The current record read as a header: its fields as column names, each name once.
    ///
    /// - Throws: ``DataError/duplicateColumn(file:column:name:firstColumn:)`` at the second
    ///   column with a name (`file:1:column`): a config name would otherwise silently pick one.
    public func headerNames() throws(DataError) -> [String] {
        var names: [String] = []
        var first: [String: Int] = [:]
        for i in 0..<fieldCount {
            let name = fieldString(i)
            if let j = first[name] { throw .duplicateColumn(file: file, column: i + 1, name: name, firstColumn: j + 1) }
            first[name] = i
            names.append(name)
        }
        return names
    }

    /// Advances to the next non-empty record.
    ///
    /// - Returns: `false` at the end of the input.
    /// - Throws: ``DataError/invalidUTF8(file:line:column:)`` and
    ///   ``DataError/malformedQuote(file:line:column:)`` (the bad record is consumed, reading
    ///   may continue), ``DataError/unterminatedQuote(file:line:column:)`` (at the end of the
    ///   input), and read errors.
    public func nextRecord() throws(DataError) -> Bool {
        if resynchronising { try skipRestOfLine() }
        while true {
            if start == end {
                if endOfInput { fieldCount = 0; return false }
                try refill()
                continue
            }
            guard let (next, lines) = try scanRecord() else {
                try refill()
                continue
            }
            let recordStart = start
            line = nextLine
            nextLine += lines
            longestRecord = max(longestRecord, next - recordStart)
            start = next
            // A line with nothing on it is not a record.
            if fieldCount == 1, spans[0].start == spans[0].end, isBlank(recordStart, next) {
                continue
            }
            recordCount += 1
            try validateUTF8(from: recordStart, to: next)
            unescapeQuotedFields()
            return true
        }
    }

    private func isBlank(_ from: Int, _ to: Int) -> Bool {
        for i in from..<to where buffer[i] != Self.lf && buffer[i] != Self.cr { return false }
        return true
    }

    // MARK: Buffer

    /// Moves the unread bytes to the front, grows the buffer if a chunk no longer fits, and
    /// reads one chunk. Sets `endOfInput` when the source is exhausted.
    func refill() throws(DataError) {
        let pending = end - start
        if start > 0 {
            if pending > 0 { memmove(buffer, buffer + start, pending) }
            start = 0
            end = pending
        }
        if bufferCapacity - end < chunkSize {
            let capacity = end + chunkSize
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            grown.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = grown
            bufferCapacity = capacity
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(start: buffer + end, count: chunkSize))
        guard n > 0 else {
            endOfInput = true
            return
        }
        hasher.update(UnsafeRawBufferPointer(start: buffer + end, count: n))
        end += n
        if atFileStart, end >= 3 {
            atFileStart = false
            if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { start = 3 }
        }
    }

    /// Drops bytes up to and including the next line feed (recovery after a malformed quote).
    func skipRestOfLine() throws(DataError) {
        while true {
            if let lf = memchr(buffer + start, Int32(Self.lf), end - start) {
                start = buffer.distance(to: lf.assumingMemoryBound(to: UInt8.self)) + 1
                nextLine += 1
                resynchronising = false
                return
            }
            start = end
            if endOfInput { resynchronising = false; return }
            try refill()
        }
    }

    @inline(__always)
    func setSpan(_ f: Int, _ s: Int, _ e: Int, escaped: Bool) {
        if f == spanCapacity {
            let grown = UnsafeMutablePointer<FieldSpan>.allocate(capacity: spanCapacity * 2)
            grown.moveInitialize(from: spans, count: spanCapacity)
            spans.deallocate()
            spans = grown
            spanCapacity *= 2
        }
        spans[f] = FieldSpan(start: s, end: e, escaped: escaped)
    }
}
