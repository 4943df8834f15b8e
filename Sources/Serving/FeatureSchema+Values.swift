/// Type checks and encoder values for ``CandidateColumns`` values (the candidates' path).
extension FeatureSchema {
    /// The JSON type of a candidate's value (``check(_:kind:path:)`` takes it).
    @inline(__always)
    static func shape(of value: CandidateColumns.Value) -> Shape {
        switch value {
        case .text: .text
        case .integer(let i): .integer(i)
        case .number(let d): .number(d)
        case .boolean: .boolean
        case .list: .list
        case .null, .absent: .null
        }
    }

    /// The encoder value of a checked, present candidate `value` for `kind`, like
    /// ``typed(_:kind:text:)-(FeatureValue,_,_)``: numbers of numeric, time and label features stay
    /// numbers; other values are written to `out` as text (`source` holds the columns' text bytes).
    @inline(__always)
    func typed(_ value: CandidateColumns.Value, kind: Kind, source: UnsafePointer<UInt8>, text out: inout [UInt8]) -> TypedValue {
        let flag: Bool? = if case .boolean(let b) = value { b } else { nil }
        if let number = Self.number(Self.shape(of: value), flag, kind: kind) { return number }
        let start = out.count
        switch value {
        case .text(let s, let e):
            out.append(contentsOf: UnsafeRawBufferPointer(start: source + Int(s), count: Int(e - s)))
        case .integer(let i): JSONText.appendInteger(i, to: &out)
        case .number(let d): Self.appendNumber(d, kind: kind, to: &out)
        case .boolean(let b): out.append(b ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        case .list(let s, let e):
            guard case .multiCategorical(let separator) = kind else { break }
            for byte in UnsafeRawBufferPointer(start: source + Int(s), count: Int(e - s)) {
                if byte == 0 { out.append(contentsOf: separator) } else { out.append(byte) }
            }
        case .null, .absent: break
        }
        return .text(start, out.count)
    }
}
