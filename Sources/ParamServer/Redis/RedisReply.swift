/// A Redis reply (RESP2), decoded from hiredis's `redisReply` tree.
public enum RedisReply: Sendable, Equatable {
    /// `+OK`-style status line.
    case status(String)
    /// `-ERR …`: the server refused the command (the connection stays usable).
    case error(String)
    case integer(Int64)
    /// A bulk string: bytes, not text (support rows are binary).
    case bulk([UInt8])
    /// The nil bulk string or nil array (a missing key).
    case null
    case array([RedisReply])

    /// The bytes of a bulk reply, nil for anything else.
    public var bytes: [UInt8]? {
        if case .bulk(let b) = self { return b }
        return nil
    }

    /// The value of an integer reply, nil for anything else.
    public var integer: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The elements of an array reply (`[]` for `.null`), nil for anything else.
    public var elements: [RedisReply]? {
        switch self {
        case .array(let a): a
        case .null: []
        default: nil
        }
    }
}

/// Why a Redis command did not produce a reply.
public enum RedisError: Error, Equatable, CustomStringConvertible {
    /// Could not connect, or the connection broke (I/O error, EOF): reconnect before retrying.
    case connection(String)
    /// No reply within the command timeout: the connection is unusable until reconnected.
    case timeout(String)
    /// The server replied with an error to a command that must succeed.
    case server(String)
    /// A reply of an unexpected shape.
    case unexpectedReply(String)
    /// A `redis://` address that does not parse.
    case badAddress(String)

    public var description: String {
        switch self {
        case .connection(let m): "Redis connection: \(m)"
        case .timeout(let m): "Redis timeout: \(m)"
        case .server(let m): "Redis error reply: \(m)"
        case .unexpectedReply(let m): "unexpected Redis reply: \(m)"
        case .badAddress(let m): "bad Redis address: \(m)"
        }
    }
}
