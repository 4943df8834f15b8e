import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking connection to a Redis server through hiredis's non-variadic `*Argv` calls. Not
/// thread-safe: each batch worker owns one. Every command has the connection's timeout; after a
/// ``RedisError/connection(_:)`` or ``RedisError/timeout(_:)`` the connection must be
/// ``reconnect()``ed (hiredis leaves it in an error state).
///
/// ``pipeline(_:)`` writes all commands, then reads all replies: one network round trip for the
/// whole batch (what the support store needs per auto-batch).
public final class RedisConnection {
    public let address: RedisAddress
    public let timeoutSeconds: Double
    private var context: UnsafeMutablePointer<redisContext>?

    /// Connects (and `SELECT`s the database) within `timeoutSeconds`, which is also each command's timeout.
    public init(address: RedisAddress, timeoutSeconds: Double = 0.5) throws(RedisError) {
        precondition(timeoutSeconds > 0, "RedisConnection: timeout must be > 0")
        self.address = address
        self.timeoutSeconds = timeoutSeconds
        try connect()
    }

    deinit { if let context { redisFree(context) } }

    /// Drops the current connection (if any) and opens a new one.
    public func reconnect() throws(RedisError) {
        if let context { redisFree(context) }
        context = nil
        try connect()
    }

    /// Whether the connection is open and not in an error state.
    public var isUsable: Bool { context.map { $0.pointee.err == 0 } ?? false }

    /// Runs one command (`["SET", key, value]` as byte strings) and returns its reply; a server
    /// error comes back as ``RedisReply/error(_:)``, not thrown.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        try pipeline([arguments])[0]
    }

    /// Runs `commands` in one round trip: all appended, then all replies read, in order.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard let context, context.pointee.err == 0 else { throw .connection("not connected to \(address)") }
        for arguments in commands {
            precondition(!arguments.isEmpty, "RedisConnection: empty command")
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard status == REDIS_OK else { throw failure(context) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure(context) }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.decode(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// hiredis writes with `write(2)`: a peer that closed the socket must give `EPIPE`, not
    /// kill the process with SIGPIPE (swift-nio ignores it too, but not every user runs NIO).
    private static let brokenPipeIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    private func connect() throws(RedisError) {
        Self.brokenPipeIgnored
        let whole = Int(timeoutSeconds)
        let tv = timeval(tv_sec: whole, tv_usec: Int((timeoutSeconds - Double(whole)) * 1e6))
        guard let c = redisConnectWithTimeout(address.host, Int32(address.port), tv) else {
            throw .connection("cannot allocate a connection to \(address)")
        }
        if c.pointee.err != 0 {
            let message = Self.errorString(c)
            redisFree(c)
            throw .connection("\(address): \(message)")
        }
        guard redisSetTimeout(c, tv) == REDIS_OK else {
            redisFree(c)
            throw .connection("\(address): cannot set the command timeout")
        }
        context = c
        if address.database != 0 {
            // A failed SELECT must not leave a usable connection on database 0.
            let reply: RedisReply
            do {
                reply = try command([Array("SELECT".utf8), Array(String(address.database).utf8)])
            } catch {
                redisFree(c)
                context = nil
                throw error
            }
            guard reply == .status("OK") else {
                redisFree(c)
                context = nil
                throw .server("SELECT \(address.database): \(reply)")
            }
        }
    }

    /// A timeout or a broken connection, from the context's error state.
    private func failure(_ c: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorString(c)
        // hiredis reports a read timeout as an I/O error with EAGAIN's text.
        if c.pointee.err == REDIS_ERR_IO && (message.contains("temporarily unavailable") || message.contains("timed out")) {
            return .timeout("\(address): no reply within \(timeoutSeconds) s")
        }
        return .connection("\(address): \(message)")
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Calls `body` with `argc`, `argv` and `argvlen` for `arguments`, laid out in one buffer.
    private static func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        let total = arguments.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        defer { storage.deallocate() }
        var pointers = [UnsafePointer<CChar>?](repeating: nil, count: arguments.count)
        var lengths = [Int](repeating: 0, count: arguments.count)
        var offset = 0
        for (i, argument) in arguments.enumerated() {
            argument.withUnsafeBufferPointer { bytes in
                if let base = bytes.baseAddress {
                    UnsafeMutableRawPointer(storage + offset).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            pointers[i] = UnsafePointer(storage + offset)
            lengths[i] = argument.count
            offset += argument.count
        }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { len in body(Int32(arguments.count), argv.baseAddress!, len.baseAddress!) }
        }
    }

    /// The Swift value of a hiredis reply tree.
    private static func decode(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let reply = r.pointee
        func text() -> [UInt8] {
            guard let s = reply.str, reply.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: s, count: Int(reply.len)))
        }
        switch reply.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(reply.integer)
        case REDIS_REPLY_STRING: return .bulk(text())
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(reply.elements)).map { decode(reply.element[$0]!) })
        default: return .null
        }
    }
}
