import ModelDescription
import ModelMath

/// A small recursive-descent JSON reader (RFC 8259) specialised to the serving wire types:
/// it builds ``ScoreRequest`` / ``EventsRequest`` straight from the bytes, with no
/// intermediate tree and no thrown-and-caught type probing (Foundation's `JSONDecoder`
/// spent most of a 200-candidate request trying `Bool`, `Int64`, `Double` before `String`).
/// Errors are ``ServingError``s naming the field (`candidates[3].price`) or, for syntax, the
/// byte offset.
struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    var i = 0
    /// Reading stops with ``ServingError/tooManyCandidates(count:limit:)`` past this many
    /// candidates, so a body's size, not its count of candidates, bounds the work.
    let maxCandidates: Int

    init(_ bytes: UnsafeRawBufferPointer, maxCandidates: Int = .max) {
        self.bytes = bytes
        self.maxCandidates = maxCandidates
    }

    // MARK: Requests

    mutating func scoreRequest() throws(ServingError) -> ScoreRequest {
        var user: String?, candidates: CandidateColumns?, context: [String: FeatureValue]?
        var finetune: Bool?, steps: Int?, learningRate: Double?
        var seen: UInt8 = 0  // one bit per field below: a key sent twice is refused, not last-wins
        try object(field: "") { (reader: inout JSONReader, key: String) throws(ServingError) in
            let bit = Self.scoreFields.firstIndex(of: key).map { UInt8(1) << $0 } ?? 0
            guard seen & bit == 0 else { throw .duplicateKey(field: key) }
            seen |= bit
            switch key {
            case "user":
                switch try reader.value(field: "user") {
                case .string(let s): user = s
                case .integer(let n): user = String(n)
                case .null: user = nil
                case let v: throw .wrongType(field: "user", expected: "a string or an integer, got \(v.typeName)")
                }
            case "candidates":
                candidates = try reader.candidates()
            case "context":
                if reader.peekNull() { try reader.literalNull(field: "context") } else { context = try reader.row(field: "context") }
            case "finetune":
                switch try reader.value(field: "finetune") {
                case .bool(let b): finetune = b
                case .null: finetune = nil
                case let v: throw .wrongType(field: "finetune", expected: "a boolean, got \(v.typeName)")
                }
            case "steps":
                switch try reader.value(field: "steps") {
                case .integer(let n): steps = Int(clamping: n)
                case .null: steps = nil
                case let v: throw .wrongType(field: "steps", expected: "an integer, got \(v.typeName)")
                }
            case "learning_rate":
                switch try reader.value(field: "learning_rate") {
                case .integer(let n): learningRate = Double(n)
                case .number(let d): learningRate = d
                case .null: learningRate = nil
                case let v: throw .wrongType(field: "learning_rate", expected: "a number, got \(v.typeName)")
                }
            default:
                throw .invalidValue(field: key, reason: "unknown field (expected user, candidates, context, finetune, steps, learning_rate)")
            }
        }
        try end()
        guard let user else { throw .missingField(field: "user") }
        guard let candidates else { throw .missingField(field: "candidates") }
        return ScoreRequest(user: user, columns: candidates, context: context, finetune: finetune, steps: steps,
                            learningRate: learningRate)
    }

    /// The keys of a `POST /v1/score` body.
    static let scoreFields: [String] = ["user", "candidates", "context", "finetune", "steps", "learning_rate"]

    mutating func eventsRequest() throws(ServingError) -> EventsRequest {
        var events: [[String: FeatureValue]]?
        try object(field: "") { (reader: inout JSONReader, key: String) throws(ServingError) in
            guard key == "events" else { throw .invalidValue(field: key, reason: "unknown field (expected events)") }
            guard events == nil else { throw .duplicateKey(field: key) }
            events = try reader.rows(field: "events")
        }
        try end()
        guard let events else { throw .missingField(field: "events") }
        return EventsRequest(events: events)
    }

    // MARK: Candidates

    /// `candidates` in either wire form, straight into columns (no dictionary or `String` per
    /// candidate): `[{"item_id": "7", …}, …]` (rows) or `{"item_id": ["7", …], …}` (columns).
    mutating func candidates() throws(ServingError) -> CandidateColumns {
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "{") { return try candidateColumns() }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else {
            throw .wrongType(field: "candidates", expected: "an array of objects or an object of arrays, got \(describeNext())")
        }
        var columns = CandidateColumns(count: 0)
        columns.form = .rows
        // The column of each key position in the previous row: the guess for this row's keys.
        var previousOrder: [Int] = []
        try array(field: "candidates") { (reader: inout JSONReader, c: Int) throws(ServingError) in
            guard c < reader.maxCandidates else { throw .tooManyCandidates(count: c + 1, limit: reader.maxCandidates) }
            columns.beginRow()
            var position = 0
            try reader.rawObject(field: "candidates[\(c)]") { (reader: inout JSONReader, key: UnsafeRawBufferPointer) throws(ServingError) in
                let f = try columns.columnIndex(of: key, guess: position < previousOrder.count ? previousOrder[position] : -1)
                if position < previousOrder.count {
                    previousOrder[position] = f
                } else if position < CandidateColumns.maxColumns {  // repeated keys must not grow it without bound
                    previousOrder.append(f)
                }
                position += 1
                guard columns.columns[f][columns.count - 1] == .absent else {
                    throw .duplicateKey(field: "candidates[\(c)].\(String(decoding: key, as: UTF8.self))")
                }
                let cell = try reader.cell(into: &columns, field: "candidates[\(c)].\(String(decoding: key, as: UTF8.self))")
                columns.setValue(column: f, cell)
            }
        }
        return columns
    }

    /// The column form: an object of equally long arrays.
    mutating func candidateColumns() throws(ServingError) -> CandidateColumns {
        var columns = CandidateColumns(count: 0)
        var counted = false
        try rawObject(field: "candidates") { (reader: inout JSONReader, key: UnsafeRawBufferPointer) throws(ServingError) in
            let name = String(decoding: key, as: UTF8.self)
            let field = "candidates." + name
            guard !columns.names.contains(name) else { throw .duplicateKey(field: field) }
            var cells: [CandidateColumns.Value] = []
            cells.reserveCapacity(columns.count)
            try reader.array(field: field) { (reader: inout JSONReader, c: Int) throws(ServingError) in
                guard c < reader.maxCandidates else { throw .tooManyCandidates(count: c + 1, limit: reader.maxCandidates) }
                cells.append(try reader.cell(into: &columns, field: "\(field)[\(c)]"))
            }
            if !counted {
                columns.setCount(cells.count)
                counted = true
            }
            guard cells.count == columns.count else {
                throw .invalidValue(field: field, reason: "\(cells.count) values, but the first column has \(columns.count)")
            }
            try columns.append(column: name, values: cells)
        }
        return columns
    }

    /// One feature value as a cell, its text written to `columns`' bytes.
    mutating func cell(into columns: inout CandidateColumns, field: @autoclosure () -> String) throws(ServingError) -> CandidateColumns.Value {
        skipSpace()
        guard i < bytes.count else { throw syntax(field(), "unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "\""):
            let (raw, escaped) = try stringBytes(field: field())
            if !escaped { return columns.appendText(raw) }
            return columns.appendText(try unescape(raw, field: field()))
        case UInt8(ascii: "t"): try literal("true", field: field()); return .boolean(true)
        case UInt8(ascii: "f"): try literal("false", field: field()); return .boolean(false)
        case UInt8(ascii: "n"): try literal("null", field: field()); return .null
        case UInt8(ascii: "{"):
            throw .wrongType(field: field(), expected: "a string, number, boolean, array or null, got an object")
        case UInt8(ascii: "["):
            return try columns.store(value(field: field()), path: field())
        default:
            switch try number(field: field()) {
            case .integer(let n): return .integer(n)
            case .number(let d): return .number(d)
            default: preconditionFailure("number() returns numbers")
            }
        }
    }

    /// Calls `element` for each element of an array, with the reader at it.
    mutating func array(
        field: @autoclosure () -> String, _ element: (inout JSONReader, Int) throws(ServingError) -> Void
    ) throws(ServingError) {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else {
            throw .wrongType(field: field(), expected: "an array, got \(describeNext())")
        }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return }
        var index = 0
        while true {
            try element(&self, index)
            index += 1
            skipSpace()
            guard i < bytes.count else { throw syntax(field(), "unterminated array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return }
            throw syntax(field(), "expected ',' or ']'")
        }
    }

    /// ``object(field:_:)`` with each key as its UTF-8 bytes (no `String` unless it has escapes).
    mutating func rawObject(
        field: @autoclosure () -> String, _ member: (inout JSONReader, UnsafeRawBufferPointer) throws(ServingError) -> Void
    ) throws(ServingError) {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else {
            let name = field()
            if name.isEmpty { throw syntax(name, "expected a JSON object") }
            throw .wrongType(field: name, expected: "an object, got \(describeNext())")
        }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw syntax(field(), "expected a string key") }
            let (raw, escaped) = try stringBytes(field: field())
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw syntax(field(), "expected ':'") }
            i += 1
            if escaped {
                let key = Array(try unescape(raw, field: field()).utf8)
                let result: Result<Void, ServingError> = key.withUnsafeBytes { key in
                    do throws(ServingError) { return .success(try member(&self, key)) } catch { return .failure(error) }
                }
                try result.get()
            } else {
                try member(&self, raw)
            }
            skipSpace()
            guard i < bytes.count else { throw syntax(field(), "unterminated object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return }
            throw syntax(field(), "expected ',' or '}'")
        }
    }

    // MARK: Structure

    /// `[ {…}, {…} ]` of feature rows.
    mutating func rows(field: String) throws(ServingError) -> [[String: FeatureValue]] {
        var out: [[String: FeatureValue]] = []
        try array(field: field) { (reader: inout JSONReader, index: Int) throws(ServingError) in
            out.append(try reader.row(field: "\(field)[\(index)]"))
        }
        return out
    }

    /// `{ "name": value, … }` of feature values.
    mutating func row(field: @autoclosure () -> String) throws(ServingError) -> [String: FeatureValue] {
        var out: [String: FeatureValue] = [:]
        out.reserveCapacity(8)
        // Field names are built only for an error message.
        try object(field: field()) { (reader: inout JSONReader, key: String) throws(ServingError) in
            guard out[key] == nil else { throw .duplicateKey(field: field() + "." + key) }
            out[key] = try reader.value(field: field() + "." + key)
        }
        return out
    }

    /// Calls `member` for each key of an object, with the reader at its value.
    mutating func object(
        field: @autoclosure () -> String, _ member: (inout JSONReader, String) throws(ServingError) -> Void
    ) throws(ServingError) {
        try rawObject(field: field()) { (reader: inout JSONReader, key: UnsafeRawBufferPointer) throws(ServingError) in
            try member(&reader, String(decoding: key, as: UTF8.self))
        }
    }

    /// A scalar, or an array of scalars (multi-categorical lists).
    mutating func value(field: @autoclosure () -> String) throws(ServingError) -> FeatureValue {
        skipSpace()
        guard i < bytes.count else { throw syntax(field(), "unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "\""): return .string(try string(field: field()))
        case UInt8(ascii: "t"): try literal("true", field: field()); return .bool(true)
        case UInt8(ascii: "f"): try literal("false", field: field()); return .bool(false)
        case UInt8(ascii: "n"): try literal("null", field: field()); return .null
        case UInt8(ascii: "["):
            i += 1
            var items: [FeatureValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
            while true {
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "[") || bytes[i] == UInt8(ascii: "{") {
                    throw .wrongType(field: field() + "[\(items.count)]", expected: "a string or a number")
                }
                items.append(try value(field: field()))
                skipSpace()
                guard i < bytes.count else { throw syntax(field(), "unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                throw syntax(field(), "expected ',' or ']'")
            }
        case UInt8(ascii: "{"):
            throw .wrongType(field: field(), expected: "a string, number, boolean, array or null, got an object")
        default:
            return try number(field: field())
        }
    }

    // MARK: Scalars

    mutating func string(field: @autoclosure () -> String) throws(ServingError) -> String {
        let (raw, escaped) = try stringBytes(field: field())
        if !escaped { return String(decoding: raw, as: UTF8.self) }
        return try unescape(raw, field: field())
    }

    /// A string's raw bytes between its quotes (the reader at the opening quote), and whether
    /// they hold an escape.
    mutating func stringBytes(field: @autoclosure () -> String) throws(ServingError) -> (UnsafeRawBufferPointer, Bool) {
        i += 1  // opening quote
        let start = i
        var escaped = false
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { break }
            if b == UInt8(ascii: "\\") { escaped = true; i += 2; continue }
            if b < 0x20 { throw syntax(field(), "control character in a string") }
            i += 1
        }
        guard i < bytes.count else { throw syntax(field(), "unterminated string") }
        let end = i
        i += 1
        return (UnsafeRawBufferPointer(rebasing: bytes[start..<end]), escaped)
    }

    private func unescape(_ raw: UnsafeRawBufferPointer, field: @autoclosure () -> String) throws(ServingError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var j = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= raw.count else { return nil }
            var v: UInt32 = 0
            for k in at..<(at + 4) {
                let c = raw[k]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            return v
        }
        while j < raw.count {
            let b = raw[j]
            guard b == UInt8(ascii: "\\") else { out.append(b); j += 1; continue }
            guard j + 1 < raw.count else { throw syntax(field(), "bad escape") }
            let e = raw[j + 1]
            j += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(j) else { throw syntax(field(), "bad \\u escape") }
                j += 4
                if (0xD800..<0xDC00).contains(scalar), j + 6 <= raw.count, raw[j] == UInt8(ascii: "\\"),
                   raw[j + 1] == UInt8(ascii: "u"), let low = hex4(j + 2), (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    j += 6
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(Character(u)).utf8)
            default: throw syntax(field(), "bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func number(field: @autoclosure () -> String) throws(ServingError) -> FeatureValue {
        let start = i
        var integral = true
        while i < bytes.count {
            let b = bytes[i]
            if b &- 0x30 < 10 || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") {
                i += 1
            } else if b == UInt8(ascii: ".") || b | 0x20 == UInt8(ascii: "e") {
                integral = false
                i += 1
            } else {
                break
            }
        }
        guard i > start else { throw syntax(field(), "unexpected character") }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
        guard Self.isJSONNumber(raw) else { throw syntax(field(), "not a JSON number") }
        if integral, let n = ByteNumber.int64(raw) { return .integer(n) }
        guard let d = ByteNumber.double(raw), d.isFinite else {
            throw syntax(field(), "not a JSON number")
        }
        return .number(d)
    }

    /// RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ b: UnsafeRawBufferPointer) -> Bool {
        var j = 0
        let n = b.count
        func digits() -> Int {
            let s = j
            while j < n, b[j] &- 0x30 < 10 { j += 1 }
            return j - s
        }
        if j < n, b[j] == UInt8(ascii: "-") { j += 1 }
        guard j < n else { return false }
        if b[j] == UInt8(ascii: "0") { j += 1 } else if digits() == 0 { return false }
        if j < n, b[j] == UInt8(ascii: ".") {
            j += 1
            guard digits() > 0 else { return false }
        }
        if j < n, b[j] | 0x20 == UInt8(ascii: "e") {
            j += 1
            if j < n, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-") { j += 1 }
            guard digits() > 0 else { return false }
        }
        return j == n
    }

    mutating func literal(_ word: StaticString, field: @autoclosure () -> String) throws(ServingError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw syntax(field(), "unexpected end of input") }
        let w = word.utf8Start
        for k in 0..<n where bytes[i + k] != w[k] { throw syntax(field(), "unexpected character") }
        i += n
    }

    func peekNull() -> Bool {
        var j = i
        while j < bytes.count, Self.isSpace(bytes[j]) { j += 1 }
        return j < bytes.count && bytes[j] == UInt8(ascii: "n")
    }

    mutating func literalNull(field: @autoclosure () -> String) throws(ServingError) {
        skipSpace()
        try literal("null", field: field())
    }

    // MARK: Helpers

    mutating func end() throws(ServingError) {
        skipSpace()
        guard i == bytes.count else { throw syntax("", "trailing characters after the JSON value") }
    }

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
    }

    @inline(__always) mutating func skipSpace() {
        while i < bytes.count, Self.isSpace(bytes[i]) { i += 1 }
    }

    func describeNext() -> String {
        var j = i
        while j < bytes.count, Self.isSpace(bytes[j]) { j += 1 }
        guard j < bytes.count else { return "the end of input" }
        switch bytes[j] {
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        default: return "a number"
        }
    }

    func syntax(_ field: String, _ reason: String) -> ServingError {
        .malformedJSON(field: field, reason: "\(reason) at byte \(i)")
    }
}
