/// A request's `C` candidates as columns: one column per feature name (a feature's values
/// across the candidates), every text value's bytes in one shared buffer. This is what
/// ``CandidateEncoder`` encodes from (its doc has the vocabulary: feature, column, value).
///
/// The JSON reader builds it straight from either wire form of `candidates` (`docs/DESIGN.md` §HTTP):
///
/// ```json
/// "candidates": [{"item_id": "7", "price": 9.5}, {"item_id": "8"}]      rows
/// "candidates": {"item_id": ["7", "8"], "price": [9.5, null]}           columns
/// ```
/// No dictionary and no `String` is made per candidate; a row-form candidate that lacks a
/// key gets an *absent* value there (filled from `context`, the user or the missing value,
/// exactly like a row without the key), while JSON `null` is the missing value itself.
/// Library callers build it with ``init(rows:)`` or ``init(count:)`` + ``setColumn(_:_:)``.
///
/// Layout (`C = count` rows, `F` columns):
/// ```
/// names   (F)        column (feature) names, in first-seen order (at most ``maxColumns``)
/// columns (F)(C)     columns[f][c], candidate c's value: absent | null | text(range in bytes) |
///                    integer | number | boolean | list(range)
/// bytes              UTF-8 of every text value; a list's items are separated by one 0x00 byte
/// ```
/// Building is O(values) in either form: a new row appends one value per column, a new column
/// `C` values (the encoder reads them column by column).
/// Equality compares columns by name, whatever their order, and text by its bytes. Text
/// offsets are 32-bit: one request's text is at most 2 GiB (HTTP bodies are far smaller).
public struct CandidateColumns: Sendable, Equatable {
    /// One candidate's value in a column (``FeatureValue`` without owned storage).
    enum Value: Sendable, Equatable {
        /// The key is not set on this row (row form only).
        case absent
        case null
        /// `bytes[start ..< end]`.
        case text(start: Int32, end: Int32)
        case integer(Int64)
        case number(Double)
        case boolean(Bool)
        /// Items `bytes[start ..< end]`, separated by 0x00 (strings, integers as digits).
        case list(start: Int32, end: Int32)
    }

    /// Which wire form the columns came from: error messages name a value the way its form
    /// addresses it (`candidates[3].price` or `candidates.price[3]`).
    enum Form: Sendable { case rows, columns }

    /// Candidates `C`.
    public private(set) var count: Int
    /// The most distinct column names a request may use (a model has far fewer inputs).
    public static let maxColumns = 512
    /// Column names, in first-seen order.
    public private(set) var names: [String] = []
    /// `F` columns of `C` values.
    var columns: [[Value]] = []
    /// Each column name's UTF-8 bytes as given (what ``columnIndex(of:)`` compares).
    private var nameBytes: [[UInt8]] = []
    /// Open addressing from a name's bytes to its column (`f + 1`; 0 = empty), load ≤ 1/2:
    /// a key finds its column in O(1) whatever the number of columns.
    private var nameBuckets: [Int32] = []
    var bytes: [UInt8] = []
    var form: Form

    /// `count` candidates with no columns yet (add them with ``setColumn(_:_:)``).
    public init(count: Int) {
        precondition(count >= 0, "CandidateColumns: count \(count) < 0")
        self.count = count
        form = .columns
    }

    /// The columns of row-form candidates (a key some rows lack is absent on those rows).
    ///
    /// - Throws: ``ServingError/wrongType(field:expected:)`` for a list inside a list,
    ///   ``ServingError/invalidValue(field:reason:)`` for a list item containing U+0000 or more
    ///   than ``maxColumns`` distinct names.
    public init(rows: [[String: FeatureValue]]) throws(ServingError) {
        count = 0
        form = .rows
        try append(rows: rows)
    }

    /// Sets column `name` to `values`, one per candidate.
    ///
    /// - Throws: ``ServingError/invalidValue(field:reason:)`` when the count differs from
    ///   ``count``, the name is already set, ``maxColumns`` columns are set, or a list item
    ///   contains U+0000; ``ServingError/wrongType(field:expected:)`` for a list inside a list.
    public mutating func setColumn(_ name: String, _ values: some Collection<FeatureValue>) throws(ServingError) {
        let field = "candidates." + name
        guard values.count == count else {
            throw .invalidValue(field: field, reason: "\(values.count) values for \(count) candidates")
        }
        guard !names.contains(name) else { throw .invalidValue(field: field, reason: "set twice") }
        try checkRoomForColumn()
        var column: [Value] = []
        column.reserveCapacity(count)
        for (i, value) in values.enumerated() {
            column.append(try store(value, path: field + "[\(i)]"))
        }
        try append(column: name, values: column)
    }

    /// ``setColumn(_:_:)`` for text values (IDs, categories).
    public mutating func setColumn(_ name: String, strings: some Collection<String>) throws(ServingError) {
        try setColumn(name, strings.lazy.map(FeatureValue.string))
    }

    /// ``setColumn(_:_:)`` for numbers (`NaN` is the missing value).
    public mutating func setColumn(_ name: String, numbers: some Collection<Double>) throws(ServingError) {
        try setColumn(name, numbers.lazy.map { $0.isNaN ? FeatureValue.null : .number($0) })
    }

    /// Columns `F`.
    var width: Int { names.count }

    /// Candidate `c`'s value in column `f`.
    func value(candidate c: Int, column f: Int) -> Value { columns[f][c] }

    /// The JSON path of candidate `c`'s value in column `f`: `candidates[c].name` for row-form
    /// candidates, `candidates.name[c]` for columns.
    func path(column f: Int, candidate c: Int) -> String {
        switch form {
        case .rows: "candidates[\(c)].\(names[f])"
        case .columns: "candidates.\(names[f])[\(c)]"
        }
    }

    /// The JSON path of column `f` as a whole: `candidates.name`, or for row-form candidates
    /// `candidates[c].name` at the first candidate `c` that sets it.
    func path(column f: Int) -> String {
        switch form {
        case .rows: path(column: f, candidate: (0..<count).first { value(candidate: $0, column: f) != .absent } ?? 0)
        case .columns: "candidates.\(names[f])"
        }
    }

    // MARK: Row-wise building (the JSON row form, ``init(rows:)``)

    /// Starts a new candidate: every column gets an absent value on it.
    mutating func beginRow() {
        count += 1
        for f in columns.indices { columns[f].append(.absent) }
    }

    /// The column index of `key`, creating the column (absent on the rows so far) when new.
    ///
    /// - Parameter guess: a column to compare first (row-form candidates usually repeat the
    ///   previous row's key order, so this skips the hash lookup).
    /// - Throws: ``ServingError/invalidValue(field:reason:)`` past ``maxColumns`` names.
    mutating func columnIndex(of key: UnsafeRawBufferPointer, guess: Int = -1) throws(ServingError) -> Int {
        if guess >= 0, guess < nameBytes.count, nameBytes[guess].withUnsafeBytes({ name in
            name.count == key.count && (key.isEmpty || memcmp(name.baseAddress!, key.baseAddress!, key.count) == 0)
        }) {
            return guess
        }
        if nameBuckets.isEmpty { rebuildNameIndex() }
        let mask = nameBuckets.count - 1
        var b = NameTable.hash(key) & mask
        while nameBuckets[b] != 0 {
            let f = Int(nameBuckets[b]) - 1
            let same = nameBytes[f].withUnsafeBytes { name in
                name.count == key.count && (key.isEmpty || memcmp(name.baseAddress!, key.baseAddress!, key.count) == 0)
            }
            if same { return f }
            b = (b + 1) & mask
        }
        try checkRoomForColumn()
        addName(String(decoding: key, as: UTF8.self), bytes: Array(key))
        columns.append([Value](repeating: .absent, count: count))
        return names.count - 1
    }

    /// Appends a column name and indexes it.
    private mutating func addName(_ name: String, bytes: [UInt8]) {
        names.append(name)
        nameBytes.append(bytes)
        if nameBuckets.isEmpty || 2 * names.count > nameBuckets.count {
            rebuildNameIndex()
            return
        }
        let mask = nameBuckets.count - 1
        var b = bytes.withUnsafeBytes { NameTable.hash($0) } & mask
        while nameBuckets[b] != 0 { b = (b + 1) & mask }
        nameBuckets[b] = Int32(names.count)
    }

    /// Rebuilds ``nameBuckets`` for the current names (after a removal, or to grow).
    private mutating func rebuildNameIndex() {
        var size = 16
        while size < 4 * names.count { size *= 2 }
        nameBuckets = [Int32](repeating: 0, count: size)
        for (f, bytes) in nameBytes.enumerated() {
            var b = bytes.withUnsafeBytes { NameTable.hash($0) } & (size - 1)
            while nameBuckets[b] != 0 { b = (b + 1) & (size - 1) }
            nameBuckets[b] = Int32(f + 1)
        }
    }

    private func checkRoomForColumn() throws(ServingError) {
        guard names.count < Self.maxColumns else {
            throw .invalidValue(field: "candidates", reason: "more than \(Self.maxColumns) distinct feature names")
        }
    }

    /// Appends row-form candidates.
    mutating func append(rows: [[String: FeatureValue]]) throws(ServingError) {
        for (c, row) in rows.enumerated() {
            beginRow()
            for (key, value) in row {
                var key = key
                let f = try Self.withBytes(of: &key) { (key) throws(ServingError) in try columnIndex(of: key) }
                columns[f][count - 1] = try store(value, path: "candidates[\(c)].\(key)")
            }
        }
    }

    /// Empties the columns for reuse (a workspace's), keeping the names `keep` accepts and their
    /// capacity (so the same request shape allocates nothing); call ``dropAbsentColumns()``
    /// after refilling so a name only an earlier request used is gone.
    mutating func reset(form: Form, keeping keep: (String) -> Bool) {
        self.form = form
        count = 0
        bytes.removeAll(keepingCapacity: true)
        removeColumns((0..<width).filter { !keep(names[$0]) })
        for f in columns.indices { columns[f].removeAll(keepingCapacity: true) }
    }

    /// Removes columns whose every value is absent.
    mutating func dropAbsentColumns() {
        removeColumns((0..<width).filter { f in !columns[f].contains { $0 != .absent } })
    }

    /// Removes columns `doomed` (ascending indices; no allocation when there are none).
    private mutating func removeColumns(_ doomed: [Int]) {
        guard !doomed.isEmpty else { return }
        for f in doomed.reversed() {
            names.remove(at: f)
            nameBytes.remove(at: f)
            columns.remove(at: f)
        }
        rebuildNameIndex()
    }

    /// Sets the row count of a column-form request before its first column (the JSON reader).
    mutating func setCount(_ rows: Int) {
        precondition(names.isEmpty, "setCount: columns already set")
        count = rows
    }

    /// Appends a column of ``count`` values whose text is already in ``bytes``.
    mutating func append(column name: String, values column: [Value]) throws(ServingError) {
        precondition(column.count == count, "append(column:values:): \(column.count) values for \(count) candidates")
        try checkRoomForColumn()
        addName(name, bytes: Array(name.utf8))
        columns.append(column)
    }

    /// Calls `body` with the UTF-8 bytes of `string` (typed throws, unlike `withUTF8`).
    static func withBytes<T>(
        of string: inout String, _ body: (UnsafeRawBufferPointer) throws(ServingError) -> T
    ) throws(ServingError) -> T {
        let result: Result<T, ServingError> = string.withUTF8 { utf8 in
            do throws(ServingError) { return .success(try body(UnsafeRawBufferPointer(utf8))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Sets column `f`'s value of the current (last) candidate.
    mutating func setValue(column f: Int, _ value: Value) { columns[f][count - 1] = value }

    // MARK: Text

    /// Appends `text` to the shared bytes and returns its value.
    mutating func appendText(_ text: UnsafeRawBufferPointer) -> Value {
        let start = Int32(bytes.count)
        bytes.append(contentsOf: text)
        return .text(start: start, end: Int32(bytes.count))
    }

    mutating func appendText(_ text: String) -> Value {
        let start = Int32(bytes.count)
        bytes.append(contentsOf: text.utf8)
        return .text(start: start, end: Int32(bytes.count))
    }

    /// Stores `value`'s text in ``bytes`` and returns the value that refers to it (`path`: its
    /// JSON path, for errors).
    mutating func store(_ value: FeatureValue, path field: @autoclosure () -> String) throws(ServingError) -> Value {
        switch value {
        case .string(let s): return appendText(s)
        case .integer(let i): return .integer(i)
        case .number(let d): return .number(d)
        case .bool(let b): return .boolean(b)
        case .null: return .null
        case .list(let items):
            let start = Int32(bytes.count)
            for (k, item) in items.enumerated() {
                if k > 0 { bytes.append(0) }
                switch item {
                case .string(let s):
                    guard !s.utf8.contains(0) else {
                        throw .invalidValue(field: field() + "[\(k)]", reason: "a list item may not contain U+0000")
                    }
                    bytes.append(contentsOf: s.utf8)
                case .integer(let i): JSONText.appendInteger(i, to: &bytes)
                default: throw .wrongType(field: field() + "[\(k)]", expected: "a string or an integer, got \(item.typeName)")
                }
            }
            return .list(start: start, end: Int32(bytes.count))
        }
    }

    /// The candidates as row dictionaries (absent values left out): the `Codable` form.
    public var rows: [[String: FeatureValue]] {
        (0..<count).map { c in
            var row: [String: FeatureValue] = [:]
            for (f, name) in names.enumerated() {
                let value: FeatureValue
                switch self.value(candidate: c, column: f) {
                case .absent: continue
                case .null: value = .null
                case .text(let s, let e): value = .string(String(decoding: bytes[Int(s)..<Int(e)], as: UTF8.self))
                case .integer(let i): value = .integer(i)
                case .number(let d): value = .number(d)
                case .boolean(let b): value = .bool(b)
                case .list(let s, let e):
                    value = .list(bytes[Int(s)..<Int(e)].split(separator: 0, omittingEmptySubsequences: false)
                        .map { .string(String(decoding: $0, as: UTF8.self)) })
                }
                row[name] = value
            }
            return row
        }
    }

    // MARK: Equality

    public static func == (a: CandidateColumns, b: CandidateColumns) -> Bool {
        guard a.count == b.count, Set(a.names) == Set(b.names), a.names.count == b.names.count else { return false }
        for (f, name) in a.names.enumerated() {
            guard let g = b.names.firstIndex(of: name) else { return false }
            for c in 0..<a.count where !a.same(a.value(candidate: c, column: f), as: b.value(candidate: c, column: g), in: b) { return false }
        }
        return true
    }

    private func same(_ x: Value, as y: Value, in other: CandidateColumns) -> Bool {
        switch (x, y) {
        case (.text(let s1, let e1), .text(let s2, let e2)), (.list(let s1, let e1), .list(let s2, let e2)):
            return bytes[Int(s1)..<Int(e1)].elementsEqual(other.bytes[Int(s2)..<Int(e2)])
        default:
            return x == y
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
