/// The bearer tokens a server accepts (RFC 6750): with at least one, every route but
/// `GET /healthz` needs `Authorization: Bearer <token>` (``AuthenticationMiddleware``); with
/// none, the server is open (`metarec serve` allows that only on a loopback address, or with
/// `--insecure-no-auth`).
///
/// Its description never shows the tokens, so a configuration can be logged.
public struct BearerTokens: Sendable, Equatable, CustomStringConvertible {
    /// Each token's bytes.
    let tokens: [[UInt8]]

    /// No token: authentication off.
    public static let none = BearerTokens(validated: [])

    /// The tokens, each non-empty and of visible ASCII (RFC 6750 `b64token` and more; no spaces).
    ///
    /// - Throws: ``Invalid`` naming the first bad token by its position (never its text).
    public init(_ tokens: [String]) throws(Invalid) {
        for (i, token) in tokens.enumerated() {
            guard !token.isEmpty, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw Invalid(position: i + 1, reason: "a token must be non-empty visible ASCII without spaces")
            }
        }
        self.init(validated: tokens)
    }

    private init(validated tokens: [String]) {
        self.tokens = tokens.map { Array($0.utf8) }
    }

    /// Whether any token is configured (authentication on).
    public var isEnabled: Bool { !tokens.isEmpty }

    /// How many tokens are configured.
    public var count: Int { tokens.count }

    public var description: String { "BearerTokens(\(tokens.count) configured)" }

    /// A malformed token.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        /// The token's 1-based position (its line in a token file, its place in a list).
        public var position: Int
        /// What is wrong with it (never its text).
        public var reason: String
        public var description: String { "token \(position): \(reason)" }
    }

    /// Whether `presented` equals one of the tokens, compared in constant time: every token is
    /// compared in full, with no early exit on a mismatched byte, so the time depends on the
    /// lengths and the number of tokens only, never on how much of a token was guessed.
    public func accepts(_ presented: some Collection<UInt8>) -> Bool {
        let presented = Array(presented)
        var matched = 0
        for token in tokens { matched |= Self.equalInConstantTime(presented, token) ? 1 : 0 }
        return matched != 0
    }

    /// `a == b`, reading `max(a.count, b.count)` bytes of each (cyclically) whatever they hold.
    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard !a.isEmpty, !b.isEmpty else { return a.isEmpty && b.isEmpty }
        var difference = UInt(bitPattern: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= UInt(a[i % a.count] ^ b[i % b.count])
        }
        return difference == 0
    }
}
