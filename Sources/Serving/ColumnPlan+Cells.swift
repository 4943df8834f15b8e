/// Type checks and encoder values for ``CandidateColumns`` cells (the columnar candidate path).
extension ColumnPlan {
    /// The JSON type of a cell (``check(_:kind:field:)`` takes it).
    @inline(__always)
    static func shape(of cell: CandidateColumns.Cell) -> Shape {
        switch cell {
        case .text: .text
        case .integer(let i): .integer(i)
        case .number(let d): .number(d)
        case .boolean: .boolean
        case .list: .list
        case .null, .absent: .null
        }
    }

    /// The encoder value of a checked, present `cell` for `kind`, like
    /// ``typed(_:kind:text:)``: numbers of numeric, time and label slots stay numbers; other
    /// values are written to `out` as text (`source` holds the cells' text bytes).
    @inline(__always)
    func typed(_ cell: CandidateColumns.Cell, kind: Kind, source: UnsafeRawBufferPointer, text out: inout [UInt8]) -> Slot {
        let flag: Bool? = if case .boolean(let b) = cell { b } else { nil }
        if let number = Self.number(Self.shape(of: cell), flag, kind: kind) { return number }
        let start = out.count
        switch cell {
        case .text(let s, let e):
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: source[Int(s)..<Int(e)]))
        case .integer(let i): JSONText.appendInteger(i, to: &out)
        case .number(let d):
            if kind == .categorical || kind == .taskKey {
                JSONText.appendInteger(Int64(d), to: &out)
            } else {
                JSONText.appendDouble(d, to: &out)
            }
        case .boolean(let b): out.append(b ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        case .list(let s, let e):
            guard case .multiCategorical(let separator) = kind else { break }
            for byte in UnsafeRawBufferPointer(rebasing: source[Int(s)..<Int(e)]) {
                if byte == 0 { out.append(contentsOf: separator) } else { out.append(byte) }
            }
        case .null, .absent: break
        }
        return .text(start, out.count)
    }
}
