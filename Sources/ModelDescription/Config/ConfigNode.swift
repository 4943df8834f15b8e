import ModelMath
import Yams

/// A YAML node with the key path that reached it: the typed accessors the config decoder
/// uses, each throwing a ``ConfigError`` that names the path.
struct ConfigNode {
    let node: Node
    let path: String
    let source: String

    var line: Int? { node.mark?.line }

    /// `true` for an explicit YAML null (`~`, `null`, or nothing after the colon).
    var isNull: Bool {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// A short rendering of the node for "got …" in messages.
    var rendered: String {
        switch node {
        case .scalar(let s):
            if isNull { return "null" }
            let text = s.string.count > 40 ? String(s.string.prefix(40)) + "…" : s.string
            return "\"\(text)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func wrongType(_ expected: String) -> ConfigError {
        .wrongType(source: source, keyPath: path, line: line, expected: expected, got: rendered)
    }

    func invalid(_ reason: String) -> ConfigError {
        .invalidValue(source: source, keyPath: path, line: line, reason: reason)
    }

    /// The node as a mapping whose keys are all in `allowed`.
    func mapping(allowed: [String]) throws(ConfigError) -> ConfigMapping {
        guard case .mapping(let m) = node else { throw wrongType("a mapping") }
        var entries: [(key: String, node: Node)] = []
        var seen = Set<String>()
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                throw ConfigError.wrongType(source: source, keyPath: path, line: k.mark?.line,
                                            expected: "string keys", got: "a complex key")
            }
            let key = ks.string
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                throw ConfigError.unknownKey(source: source, keyPath: keyPath, line: k.mark?.line,
                                             suggestion: Self.closest(to: key, in: allowed))
            }
            guard seen.insert(key).inserted else {
                throw ConfigError.invalidValue(source: source, keyPath: keyPath, line: k.mark?.line, reason: "duplicate key")
            }
            entries.append((key, v))
        }
        return ConfigMapping(entries: entries, path: path, source: source, line: line)
    }

    /// The node as a list of nodes with indexed paths (`path[0]`, …).
    func list() throws(ConfigError) -> [ConfigNode] {
        guard case .sequence(let s) = node else { throw wrongType("a list") }
        return s.enumerated().map { ConfigNode(node: $0.element, path: "\(path)[\($0.offset)]", source: source) }
    }

    /// A scalar as text (plain numbers and booleans are accepted as their text; null is not).
    func string() throws(ConfigError) -> String {
        guard case .scalar(let s) = node, !isNull else { throw wrongType("a string") }
        return s.string
    }

    /// An unquoted integer.
    func int() throws(ConfigError) -> Int {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any,
              let v = Int(s.string.replacingUnderscores) else { throw wrongType("an integer") }
        return v
    }

    /// An unquoted finite number (integers are accepted).
    func double() throws(ConfigError) -> Double {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any,
              let v = Double(s.string.replacingUnderscores), v.isFinite else { throw wrongType("a number") }
        return v
    }

    /// An unquoted `true` / `false` (any case).
    func bool() throws(ConfigError) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { throw wrongType("true or false") }
        switch s.string.lowercased() {
        case "true": return true
        case "false": return false
        default: throw wrongType("true or false")
        }
    }

    /// One of an enum's YAML spellings.
    func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws(ConfigError) -> E where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        guard case .scalar(let s) = node, !isNull, let v = E(rawValue: s.string) else {
            throw wrongType("one of " + names.joined(separator: " | "))
        }
        return v
    }

    /// The allowed key closest to `key` by edit distance, when it is close enough to be a typo.
    static func closest(to key: String, in allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, key.count / 3) else { return nil }
        return best
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1,
                                 previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }
}

/// A YAML mapping whose keys have been checked against the schema.
struct ConfigMapping {
    let entries: [(key: String, node: Node)]
    let path: String
    let source: String
    let line: Int?

    /// The value at `key`, or `nil` when absent or null.
    subscript(_ key: String) -> ConfigNode? {
        guard let e = entries.first(where: { $0.key == key }) else { return nil }
        let child = ConfigNode(node: e.node, path: path.isEmpty ? key : "\(path).\(key)", source: source)
        return child.isNull ? nil : child
    }

    /// The value at `key`, which must be present.
    func required(_ key: String) throws(ConfigError) -> ConfigNode {
        guard let n = self[key] else {
            throw ConfigError.missingKey(source: source, keyPath: path.isEmpty ? key : "\(path).\(key)", line: line)
        }
        return n
    }

    func int(_ key: String, default value: Int) throws(ConfigError) -> Int {
        try self[key]?.int() ?? value
    }

    func double(_ key: String, default value: Double) throws(ConfigError) -> Double {
        try self[key]?.double() ?? value
    }

    func bool(_ key: String, default value: Bool) throws(ConfigError) -> Bool {
        try self[key]?.bool() ?? value
    }

    func string(_ key: String, default value: String) throws(ConfigError) -> String {
        try self[key]?.string() ?? value
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws(ConfigError) -> E
    where E.RawValue == String {
        try self[key]?.choice(E.self) ?? value
    }

    func intList(_ key: String, default value: [Int]) throws(ConfigError) -> [Int] {
        guard let n = self[key] else { return value }
        var out: [Int] = []
        for item in try n.list() { out.append(try item.int()) }
        return out
    }

    /// The node at `key` for line numbers in validation errors (nil when absent).
    func node(_ key: String) -> ConfigNode? { self[key] }
}

extension String {
    /// YAML allows `1_000_000`.
    fileprivate var replacingUnderscores: String {
        contains("_") ? filter { $0 != "_" } : self
    }
}
