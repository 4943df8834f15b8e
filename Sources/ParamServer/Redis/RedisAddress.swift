/// Where a Redis server listens: `redis://HOST[:PORT][/DB]` (port 6379 and database 0 by default).
public struct RedisAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    /// Parses `redis://HOST[:PORT][/DB]`; throws ``RedisError/badAddress(_:)`` naming what is wrong.
    public init(url: String) throws(RedisError) {
        let prefix = "redis://"
        guard url.hasPrefix(prefix) else { throw .badAddress("\(url): expected redis://HOST[:PORT][/DB]") }
        var rest = Substring(url.dropFirst(prefix.count))
        guard !rest.contains("@") else { throw .badAddress("\(url): credentials in the URL are not supported") }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard let n = Int(db), n >= 0, n < 1 << 16 else { throw .badAddress("\(url): database '\(db)' is not a number ≥ 0") }
            database = n
            rest = rest[..<slash]
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            let p = rest[rest.index(after: colon)...]
            guard let n = Int(p), (1...65_535).contains(n) else { throw .badAddress("\(url): port '\(p)' is not in 1…65535") }
            port = n
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .badAddress("\(url): missing host") }
        self.init(host: String(rest), port: port, database: database)
    }

    public var description: String { "redis://\(host):\(port)/\(database)" }
}
