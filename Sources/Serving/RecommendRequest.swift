import Foundation

/// `POST /v1/recommend` (`docs/DESIGN.md` §HTTP): recall `n` items of the catalogue for one
/// user, rank them with the served ranker, return the best `k`.
///
/// ```json
/// {"user": "42", "k": 10, "n": 200, "history": ["7", "19"], "context": {"hour": 20},
///  "exclude": ["3"], "exclude_seen": true, "order_by": "click", "finetune": true}
/// ```
/// Only `user` is required. Item keys may be JSON strings or integers (an integer reads as its
/// decimal digits, like an id feature).
public struct RecommendRequest: Sendable, Equatable {
    /// The task key value (the user), as in `/v1/score`.
    public var user: String
    /// Items returned, `k` (default ``defaultK``).
    public var k: Int?
    /// Items recalled and ranked, `n ≥ k` (default `max(k, ``defaultN``)`, at most `serving.max_candidates`).
    public var n: Int?
    /// The user's recent item keys, oldest first; `nil` = what the server knows of the user.
    public var history: [String]?
    /// Values shared by every candidate, passed to the ranker as `/v1/score`'s `context`.
    public var context: [String: FeatureValue]?
    /// Item keys never returned.
    public var exclude: [String]?
    /// Whether the history's items are excluded too (default `true`).
    public var excludeSeen: Bool?
    /// The task whose ranker score orders the list (default: the model's first task).
    public var orderBy: String?
    /// Per-request override of `serving.finetune`, as in `/v1/score`.
    public var finetune: Bool?

    /// `k` when the request does not say.
    public static let defaultK = 10
    /// `n` when the request does not say (at least `k`).
    public static let defaultN = 200
    /// The most item keys `history` and `exclude` may each hold (a 400 beyond).
    public static let maxListLength = 10_000

    public init(user: String, k: Int? = nil, n: Int? = nil, history: [String]? = nil, context: [String: FeatureValue]? = nil,
                exclude: [String]? = nil, excludeSeen: Bool? = nil, orderBy: String? = nil, finetune: Bool? = nil) {
        (self.user, self.k, self.n, self.history, self.context) = (user, k, n, history, context)
        (self.exclude, self.excludeSeen, self.orderBy, self.finetune) = (exclude, excludeSeen, orderBy, finetune)
    }

    /// The keys of a body.
    static let fields = ["user", "k", "n", "history", "context", "exclude", "exclude_seen", "order_by", "finetune"]
}

extension RequestDecoding {
    /// Decodes a `POST /v1/recommend` body (duplicate keys refused, unknown keys refused, each
    /// error naming its field).
    public static func recommendRequest(from data: Data) throws(ServingError) -> RecommendRequest {
        try read(data) { (reader: inout JSONReader) throws(ServingError) in try reader.recommendRequest() }
    }
}

extension JSONReader {
    mutating func recommendRequest() throws(ServingError) -> RecommendRequest {
        var r = RecommendRequest(user: "")
        var user: String?
        var seen: Set<String> = []
        try object(field: "") { (reader: inout JSONReader, key: String) throws(ServingError) in
            guard RecommendRequest.fields.contains(key) else {
                throw .invalidValue(field: key, reason: "unknown field (expected \(RecommendRequest.fields.joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw .duplicateKey(field: key) }
            if key == "context" {
                if reader.peekNull() { try reader.literalNull(field: "context") } else { r.context = try reader.row(field: "context") }
                return
            }
            let value = try reader.value(field: key)
            if case .null = value { return }
            switch key {
            case "user": user = try Self.key(value, field: "user")
            case "k": r.k = try Self.integer(value, field: "k")
            case "n": r.n = try Self.integer(value, field: "n")
            case "history": r.history = try Self.keys(value, field: "history")
            case "exclude": r.exclude = try Self.keys(value, field: "exclude")
            case "exclude_seen", "finetune":
                guard case .bool(let b) = value else { throw .wrongType(field: key, expected: "a boolean, got \(value.typeName)") }
                if key == "finetune" { r.finetune = b } else { r.excludeSeen = b }
            default:
                guard case .string(let s) = value else { throw .wrongType(field: key, expected: "a string, got \(value.typeName)") }
                r.orderBy = s
            }
        }
        try end()
        guard let user, !user.isEmpty else { throw .missingField(field: "user") }
        r.user = user
        return r
    }

    /// A string, or an integer as its decimal digits.
    static func key(_ value: FeatureValue, field: String) throws(ServingError) -> String {
        switch value {
        case .string(let s): return s
        case .integer(let n): return String(n)
        default: throw .wrongType(field: field, expected: "a string or an integer, got \(value.typeName)")
        }
    }

    static func integer(_ value: FeatureValue, field: String) throws(ServingError) -> Int {
        guard case .integer(let n) = value else { throw .wrongType(field: field, expected: "an integer, got \(value.typeName)") }
        return Int(clamping: n)
    }

    static func keys(_ value: FeatureValue, field: String) throws(ServingError) -> [String] {
        guard case .list(let items) = value else { throw .wrongType(field: field, expected: "an array of item keys, got \(value.typeName)") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() { out.append(try key(item, field: "\(field)[\(i)]")) }
        return out
    }
}
