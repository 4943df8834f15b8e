#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelDescription
import ModelMath

/// What each feature the encoder reads is (its name and kind), so that request values can be
/// type-checked and typed for the encoder: one entry per ``FeatureEncoder/columns`` name, in that
/// order (a *feature index* is the encoder's slot). See ``CandidateEncoder`` for the vocabulary.
struct FeatureSchema: Sendable {
    enum Kind: Sendable, Equatable {
        case taskKey
        case time
        case categorical
        case multiCategorical(separator: [UInt8])
        case numeric
        case label(TaskKind)
    }

    /// Feature names, ``FeatureEncoder/columns``.
    let names: [String]
    let kinds: [Kind]
    /// ``feature(named:)``'s table.
    let nameTable: NameTable
    /// The task-key feature.
    let taskFeature: Int
    /// The time feature, if the config has one.
    let timeFeature: Int?
    /// Label features, in task order.
    let labelFeatures: [Int]

    init(config: ModelConfig, encoder: FeatureEncoder) {
        names = encoder.columns
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        nameTable = NameTable(names)
        var kinds = [Kind](repeating: .categorical, count: names.count)
        taskFeature = index[config.taskKey]!
        kinds[taskFeature] = .taskKey
        for label in config.labels {
            kinds[index[label.name]!] = .label(label.kind == .binary ? .binary : .regression)
        }
        for feature in config.features {
            let kind: Kind = switch feature.kind {
            case .categorical: .categorical
            case .multiCategorical(let separator, _): .multiCategorical(separator: Array(separator.utf8))
            case .numeric: .numeric
            }
            kinds[index[feature.name]!] = kind
        }
        timeFeature = config.time.flatMap { index[$0] }
        if let timeFeature { kinds[timeFeature] = .time }
        labelFeatures = config.labels.map { index[$0.name]! }
        self.kinds = kinds
    }

    /// Features `F`.
    var count: Int { names.count }

    /// The feature named `key`: a hash of its UTF-8 bytes and a byte compare (cheaper than a
    /// `[String: Int]` lookup's SipHash on the per-request path), `nil` for an unknown name.
    @inline(__always)
    func feature(named key: String) -> Int? {
        var key = key
        return key.withUTF8 { nameTable.index(of: UnsafeRawBufferPointer($0)) }
    }

    /// Whether a candidate (or the context) may set this feature: not a label.
    func isCandidateInput(_ feature: Int) -> Bool {
        if case .label = kinds[feature] { return false }
        return true
    }

    // MARK: Type checks

    /// The JSON type of a value, without its storage: what the type checks look at.
    enum Shape {
        case text
        case integer(Int64)
        case number(Double)
        case boolean
        /// A list whose items are strings or integers (checked where it is built).
        case list
        case null

        var name: String {
            switch self {
            case .text: "a string"
            case .integer, .number: "a number"
            case .boolean: "a boolean"
            case .list: "an array"
            case .null: "null"
            }
        }
    }

    /// The JSON type of a value.
    static func shape(of value: FeatureValue) -> Shape {
        switch value {
        case .string: .text
        case .integer(let i): .integer(i)
        case .number(let d): .number(d)
        case .bool: .boolean
        case .null: .null
        case .list: .list
        }
    }

    /// Throws unless `value` has a JSON type that a feature of kind `kind` accepts (`path`:
    /// where it sits in the request JSON, for the error).
    func check(_ value: FeatureValue, kind: Kind, path field: @autoclosure () -> String) throws(ServingError) {
        if case .list(let items) = value, case .multiCategorical = kind {
            for (i, item) in items.enumerated() {
                switch item {
                case .string, .integer: continue
                default: throw .wrongType(field: field() + "[\(i)]", expected: "a string or an integer, got \(item.typeName)")
                }
            }
        }
        try check(Self.shape(of: value), kind: kind, path: field())
    }

    /// Whether a value of `shape` fits a feature of kind `kind` (``check(_:kind:path:)`` without the error).
    func accepts(_ shape: Shape, kind: Kind) -> Bool {
        do throws(ServingError) {
            try check(shape, kind: kind, path: "")
            return true
        } catch {
            return false
        }
    }

    /// Throws unless a value of `shape` fits a feature of kind `kind`.
    func check(_ shape: Shape, kind: Kind, path field: @autoclosure () -> String) throws(ServingError) {
        switch kind {
        case .taskKey, .categorical:
            switch shape {
            case .text, .integer, .null: return
            case .number(let d) where d == d.rounded() && abs(d) < 9.2e18: return
            default: throw .wrongType(field: field(), expected: "a string or an integer, got \(shape.name)")
            }
        case .multiCategorical:
            switch shape {
            case .text, .integer, .null, .list: return
            default: throw .wrongType(field: field(), expected: "an array of strings or a string, got \(shape.name)")
            }
        case .numeric:
            switch shape {
            case .integer, .null: return
            case .number(let d) where d.isFinite: return
            default: throw .wrongType(field: field(), expected: "a number, got \(shape.name)")
            }
        case .time:
            switch shape {
            case .integer: return
            case .number(let d) where d.isFinite && abs(d) < 9.2e9: return
            case .number: throw .invalidValue(field: field(), reason: "not a timestamp in seconds")
            default: throw .wrongType(field: field(), expected: "a number (seconds), got \(shape.name)")
            }
        case .label(.binary):
            switch shape {
            case .boolean, .null: return
            case .integer(let i) where i == 0 || i == 1: return
            case .number(let d) where d == 0 || d == 1: return
            case .integer, .number: throw .invalidValue(field: field(), reason: "a binary label must be 0, 1, true or false")
            default: throw .wrongType(field: field(), expected: "0, 1, true or false, got \(shape.name)")
            }
        case .label(.regression):
            switch shape {
            case .integer, .null: return
            case .number(let d) where d.isFinite: return
            default: throw .wrongType(field: field(), expected: "a number, got \(shape.name)")
            }
        }
    }

    // MARK: Typed values

    /// A value typed for the encoder: a number, or text given as a range of a byte buffer
    /// (positions, not pointers, while that buffer still grows). ``field(text:)`` turns it into
    /// the encoder's ``FeatureEncoder/Field`` once the buffer no longer moves.
    enum TypedValue: Sendable, Equatable {
        /// No value yet; reads as the empty text (missing).
        case unset
        /// `text[start ..< end]`.
        case text(Int, Int)
        case number(Double)
        case integer(Int64)

        /// The encoder field of this value, its text in `text`.
        @inline(__always)
        func field(text: UnsafePointer<UInt8>) -> FeatureEncoder.Field {
            switch self {
            case .text(let start, let end): .text(UnsafeRawBufferPointer(start: text + start, count: end - start))
            case .number(let d): .number(d)
            case .integer(let i): .integer(i)
            case .unset: .text(UnsafeRawBufferPointer(start: text, count: 0))
            }
        }
    }

    /// The encoder value of a checked `value` for `kind`: numbers of numeric, time and label
    /// features stay numbers (no text round trip); everything else is written as text to `out`.
    func typed(_ value: FeatureValue, kind: Kind, text out: inout [UInt8]) -> TypedValue {
        if let number = Self.number(Self.shape(of: value), value.boolValue, kind: kind) { return number }
        let start = out.count
        appendText(value, kind: kind, to: &out)
        return .text(start, out.count)
    }

    /// The encoder value of a number, integer or boolean (`flag`) for a numeric, time or label
    /// feature: it stays a number (no text round trip). `nil` for other kinds and for text,
    /// lists and null (null reads as the empty text: missing).
    @inline(__always)
    static func number(_ shape: Shape, _ flag: Bool?, kind: Kind) -> TypedValue? {
        switch kind {
        case .numeric, .time, .label:
            switch shape {
            case .integer(let i): return .integer(i)
            case .number(let d): return .number(d)
            case .boolean: return .integer(flag == true ? 1 : 0)
            default: return nil
            }
        default: return nil
        }
    }

    /// Where a feature's value comes from when it is not a candidate's own.
    enum Source {
        /// A JSON value (a context entry, an event's field).
        case value(FeatureValue)
        /// The request's user (the task-key feature).
        case user(String)
        /// Nothing: the missing value.
        case missing
    }

    /// The encoder value of `feature` from `source` (text appended to `text`): a value typed for
    /// the feature's kind, the user's text, or the missing value (0 for the time feature).
    func typed(_ source: Source, feature: Int, text: inout [UInt8]) -> TypedValue {
        switch source {
        case .value(let v): return typed(v, kind: kinds[feature], text: &text)
        case .user(let user):
            let start = text.count
            text.append(contentsOf: user.utf8)
            return .text(start, text.count)
        case .missing: return kinds[feature] == .time ? .integer(0) : .text(0, 0)
        }
    }

    // MARK: Text

    /// Appends a JSON number as the encoder reads it for `kind`: an ID (categorical, task key) as
    /// an integer, anything else in full.
    static func appendNumber(_ d: Double, kind: Kind, to out: inout [UInt8]) {
        if kind == .categorical || kind == .taskKey {
            JSONText.appendInteger(Int64(d), to: &out)
        } else {
            JSONText.appendDouble(d, to: &out)
        }
    }

    /// Appends the text form of a checked `value` that the encoder parses for `kind`.
    func appendText(_ value: FeatureValue, kind: Kind, to out: inout [UInt8]) {
        switch value {
        case .string(let s): out.append(contentsOf: s.utf8)
        case .integer(let i): JSONText.appendInteger(i, to: &out)
        case .number(let d): Self.appendNumber(d, kind: kind, to: &out)
        case .bool(let b): out.append(b ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        case .list(let items):
            guard case .multiCategorical(let separator) = kind else { return }
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(contentsOf: separator) }
                appendText(item, kind: .categorical, to: &out)
            }
        case .null: break
        }
    }
}

/// Open-addressing table from a name's UTF-8 bytes to its index (load factor ≤ 1/4).
struct NameTable: Sendable {
    private let names: [[UInt8]]
    /// `index + 1` per bucket, 0 = empty.
    private let buckets: [Int32]
    private let mask: Int

    init(_ names: [String]) {
        self.names = names.map { Array($0.utf8) }
        var size = 8
        while size < 4 * names.count { size *= 2 }
        var buckets = [Int32](repeating: 0, count: size)
        for (index, name) in self.names.enumerated() {
            var b = name.withUnsafeBytes { Self.hash($0) } & (size - 1)
            while buckets[b] != 0 { b = (b + 1) & (size - 1) }
            buckets[b] = Int32(index + 1)
        }
        self.buckets = buckets
        mask = size - 1
    }

    func index(of key: UnsafeRawBufferPointer) -> Int? {
        var b = Self.hash(key) & mask
        while true {
            let entry = Int(buckets[b])
            if entry == 0 { return nil }
            let found = names[entry - 1].withUnsafeBytes { name in
                name.count == key.count && (key.isEmpty || memcmp(name.baseAddress!, key.baseAddress!, key.count) == 0)
            }
            if found { return entry - 1 }
            b = (b + 1) & mask
        }
    }

    /// A multiplicative hash of the length and the first and last (up to) eight bytes: names
    /// are short, and the table verifies every hit by comparing the bytes.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = bytes.count
        var head: UInt64 = 0, tail: UInt64 = 0
        if n >= 8 {
            head = bytes.loadUnaligned(as: UInt64.self)
            tail = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
        } else {
            for i in 0..<n { head |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        }
        var h = (head &* 0x9e37_79b9_7f4a_7c15) ^ (tail &* 0xc2b2_ae3d_27d4_eb4f) ^ UInt64(n)
        h ^= h >> 32
        return Int(truncatingIfNeeded: (h &* 0xff51_afd7_ed55_8ccd) >> 8)
    }
}
