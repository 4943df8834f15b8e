#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelDescription
import ModelMath

/// What each input column of the encoder is, so request values can be type-checked and
/// written as the text the encoder parses. One slot per ``FeatureEncoder/columns`` entry.
struct ColumnPlan: Sendable {
    enum Kind: Sendable, Equatable {
        case taskKey
        case time
        case categorical
        case multiCategorical(separator: [UInt8])
        case numeric
        case label(TaskKind)
    }

    /// ``FeatureEncoder/columns``.
    let names: [String]
    let kinds: [Kind]
    /// ``slot(named:)``'s table.
    let nameTable: NameTable
    /// Slot of the task-key column.
    let taskSlot: Int
    /// Slot of the time column, if the config has one.
    let timeSlot: Int?
    /// Label slots, in task order.
    let labelSlots: [Int]

    init(config: ModelConfig, encoder: FeatureEncoder) {
        names = encoder.columns
        var slots: [String: Int] = [:]
        for (i, n) in names.enumerated() { slots[n] = i }
        nameTable = NameTable(names)
        var kinds = [Kind](repeating: .categorical, count: names.count)
        taskSlot = slots[config.taskKey]!
        kinds[taskSlot] = .taskKey
        for label in config.labels {
            kinds[slots[label.name]!] = .label(label.kind == .binary ? .binary : .regression)
        }
        for feature in config.features {
            let kind: Kind = switch feature.kind {
            case .categorical: .categorical
            case .multiCategorical(let separator, _): .multiCategorical(separator: Array(separator.utf8))
            case .numeric: .numeric
            }
            kinds[slots[feature.name]!] = kind
        }
        timeSlot = config.time.flatMap { slots[$0] }
        if let timeSlot { kinds[timeSlot] = .time }
        labelSlots = config.labels.map { slots[$0.name]! }
        self.kinds = kinds
    }

    /// The slot of column `key`: a hash of its UTF-8 bytes and a byte compare (cheaper than a
    /// `[String: Int]` lookup's SipHash on the per-candidate path), `nil` for an unknown name.
    @inline(__always)
    func slot(named key: String) -> Int? {
        var key = key
        return key.withUTF8 { nameTable.slot(of: UnsafeRawBufferPointer($0)) }
    }

    /// Whether a candidate (or the context) may set this slot: features, the task key, the time.
    func isCandidateInput(_ slot: Int) -> Bool {
        if case .label = kinds[slot] { return false }
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

    /// Throws unless `value` has a JSON type that column kind `kind` accepts.
    func check(_ value: FeatureValue, kind: Kind, field: @autoclosure () -> String) throws(ServingError) {
        if case .list(let items) = value, case .multiCategorical = kind {
            for (i, item) in items.enumerated() {
                switch item {
                case .string, .integer: continue
                default: throw .wrongType(field: field() + "[\(i)]", expected: "a string or an integer, got \(item.typeName)")
                }
            }
        }
        try check(Self.shape(of: value), kind: kind, field: field())
    }

    /// Whether a value of `shape` fits column kind `kind` (``check(_:kind:field:)`` without the error).
    func accepts(_ shape: Shape, kind: Kind) -> Bool {
        do throws(ServingError) {
            try check(shape, kind: kind, field: "")
            return true
        } catch {
            return false
        }
    }

    /// Throws unless a value of `shape` fits column kind `kind`.
    func check(_ shape: Shape, kind: Kind, field: @autoclosure () -> String) throws(ServingError) {
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

    // MARK: Values

    /// One row value as the encoder takes it (``FeatureEncoder/Field``), positions instead of pointers.
    enum Slot: Sendable, Equatable {
        case unset
        /// `rowBytes[start ..< end]`.
        case text(Int, Int)
        case number(Double)
        case integer(Int64)
    }

    /// The encoder value of a checked `value` for `kind`: numbers of numeric, time and label
    /// slots stay numbers (no text round trip); everything else is written as text to `out`.
    func typed(_ value: FeatureValue, kind: Kind, text out: inout [UInt8]) -> Slot {
        if let number = Self.number(Self.shape(of: value), value.boolValue, kind: kind) { return number }
        let start = out.count
        appendText(value, kind: kind, to: &out)
        return .text(start, out.count)
    }

    /// The encoder value of a number, integer or boolean (`flag`) for a numeric, time or label
    /// slot: it stays a number (no text round trip). `nil` for other kinds and for text, lists
    /// and null (null reads as the empty text: missing).
    @inline(__always)
    static func number(_ shape: Shape, _ flag: Bool?, kind: Kind) -> Slot? {
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

    // MARK: Text

    /// Appends the text form of a checked `value` that the encoder parses for `kind`.
    func appendText(_ value: FeatureValue, kind: Kind, to out: inout [UInt8]) {
        switch value {
        case .string(let s): out.append(contentsOf: s.utf8)
        case .integer(let i): JSONText.appendInteger(i, to: &out)
        case .number(let d):
            if kind == .categorical || kind == .taskKey {
                JSONText.appendInteger(Int64(d), to: &out)
            } else {
                JSONText.appendDouble(d, to: &out)
            }
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

/// Open-addressing table from a column name's UTF-8 bytes to its slot (load factor ≤ 1/4).
struct NameTable: Sendable {
    private let names: [[UInt8]]
    /// `slot + 1` per bucket, 0 = empty.
    private let buckets: [Int32]
    private let mask: Int

    init(_ columns: [String]) {
        names = columns.map { Array($0.utf8) }
        var size = 8
        while size < 4 * columns.count { size *= 2 }
        var buckets = [Int32](repeating: 0, count: size)
        for (slot, name) in names.enumerated() {
            var b = name.withUnsafeBytes { Self.hash($0) } & (size - 1)
            while buckets[b] != 0 { b = (b + 1) & (size - 1) }
            buckets[b] = Int32(slot + 1)
        }
        self.buckets = buckets
        mask = size - 1
    }

    func slot(of key: UnsafeRawBufferPointer) -> Int? {
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

    /// A multiplicative hash of the length and the first and last (up to) eight bytes: column
    /// names are short, and the table verifies every hit by comparing the bytes.
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
