import ModelMath

/// A model config that cannot be used: unreadable, not YAML, or not a valid config.
///
/// Every case carries the `source` (the file path, or the name given to
/// ``ModelConfig/parse(yaml:source:)``) and, where it applies, the key path
/// (`model.expert_layers[1]`, `features[2].kind`) and the 1-based line of the offending node.
/// ``description`` is one line: `source:line: key.path: reason`.
public enum ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read.
    case unreadable(source: String, reason: String)
    /// The text is not well-formed YAML (or not UTF-8).
    case syntax(source: String, line: Int?, column: Int?, reason: String)
    /// A key the schema does not know; `suggestion` is the closest known key, if any is close.
    case unknownKey(source: String, keyPath: String, line: Int?, suggestion: String?)
    /// A required key is absent.
    case missingKey(source: String, keyPath: String, line: Int?)
    /// A value of the wrong YAML type (`expected an integer, got "four"`).
    case wrongType(source: String, keyPath: String, line: Int?, expected: String, got: String)
    /// A value of the right type that breaks a rule (a width ≤ 0, a duplicate name, …).
    case invalidValue(source: String, keyPath: String, line: Int?, reason: String)

    /// The file path or source name.
    public var source: String {
        switch self {
        case .unreadable(let s, _), .syntax(let s, _, _, _), .unknownKey(let s, _, _, _),
             .missingKey(let s, _, _), .wrongType(let s, _, _, _, _), .invalidValue(let s, _, _, _):
            s
        }
    }

    /// The dotted key path of the offending value (`""` for file-level errors).
    public var keyPath: String {
        switch self {
        case .unreadable, .syntax: ""
        case .unknownKey(_, let k, _, _), .missingKey(_, let k, _), .wrongType(_, let k, _, _, _),
             .invalidValue(_, let k, _, _):
            k
        }
    }

    /// The 1-based line of the offending node, when known.
    public var line: Int? {
        switch self {
        case .unreadable: nil
        case .syntax(_, let l, _, _), .unknownKey(_, _, let l, _), .missingKey(_, _, let l),
             .wrongType(_, _, let l, _, _), .invalidValue(_, _, let l, _):
            l
        }
    }

    /// The reason, without source, line or key path.
    public var reason: String {
        switch self {
        case .unreadable(_, let r), .syntax(_, _, _, let r), .invalidValue(_, _, _, let r): r
        case .unknownKey(_, _, _, let suggestion):
            suggestion.map { "unknown key (did you mean \($0)?)" } ?? "unknown key"
        case .missingKey: "required key is missing"
        case .wrongType(_, _, _, let expected, let got): "expected \(expected), got \(got)"
        }
    }

    /// `source:line: key.path: reason` on one line.
    public var description: String {
        var location = source
        if let line { location += ":\(line)" }
        if case .syntax(_, _, let column?, _) = self { location += ":\(column)" }
        return keyPath.isEmpty ? "\(location): \(reason)" : "\(location): \(keyPath): \(reason)"
    }
}
