/// One raw value of a request field, as JSON gives it.
///
/// The ``FeatureEncoder`` reads text; ``Predictor`` writes each value's text form into a
/// reused byte buffer (no `String` per value), after ``RequestValidator`` has checked that the
/// JSON type fits the column:
///
/// ```
/// categorical / task key   string, or an integer (as its decimal digits)
/// multi_categorical        array of strings or integers, or one string with separators
/// numeric, time            number (integer or decimal); null = missing
/// binary label             0, 1, true, false; null = missing
/// regression label         number; null = missing
/// ```
public enum FeatureValue: Sendable, Equatable, Codable {
    case string(String)
    /// A JSON number without fraction or exponent that fits in 64 bits (IDs keep every digit).
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    /// A multi-categorical list.
    case list([FeatureValue])
    case null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .integer(i); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let l = try? c.decode([FeatureValue].self) { self = .list(l); return }
        throw DecodingError.typeMismatch(
            FeatureValue.self,
            .init(codingPath: decoder.codingPath, debugDescription: "expected a string, number, boolean, null or array"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .list(let l): try c.encode(l)
        case .null: try c.encodeNil()
        }
    }

    /// The value of `.bool`, `nil` for the other cases.
    var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The JSON type's name for error messages.
    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer, .number: "a number"
        case .bool: "a boolean"
        case .list: "an array"
        case .null: "null"
        }
    }
}

extension FeatureValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
