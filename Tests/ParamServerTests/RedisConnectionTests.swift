import Foundation
import ParamServer
import Testing

/// `$METAREC_REDIS_URL`: a Redis server for the tests (`make test` starts one on loopback through
/// scripts/with-redis.sh).
enum TestRedis {
    static let address: RedisAddress? = {
        guard let url = ProcessInfo.processInfo.environment["METAREC_REDIS_URL"], !url.isEmpty else { return nil }
        return try? RedisAddress(url: url)
    }()

    /// A key prefix no other test run shares.
    static func prefix(_ name: String) -> String { "metarec-test:\(getpid()):\(name):\(UInt64.random(in: 0..<1 << 40))" }
}

@Suite struct RedisAddressTests {
    @Test func `redis URLs parse with defaults and bad ones name what is wrong`() throws {
        #expect(try RedisAddress(url: "redis://127.0.0.1") == RedisAddress(host: "127.0.0.1", port: 6379, database: 0))
        #expect(try RedisAddress(url: "redis://cache.local:6390/3") == RedisAddress(host: "cache.local", port: 6390, database: 3))
        for (url, fragment) in [("http://x", "expected redis://"), ("redis://:6379", "missing host"),
                                ("redis://h:0", "port '0'"), ("redis://h:99999", "port '99999'"),
                                ("redis://h/x", "database 'x'"), ("redis://u:p@h", "credentials")] {
            #expect {
                _ = try RedisAddress(url: url)
            } throws: { error in
                "\(error)".contains(fragment)
            }
        }
    }

    @Test func `connecting to a closed port fails with a connection error, not a hang`() throws {
        let start = ContinuousClock.now
        #expect(throws: RedisError.self) { _ = try RedisConnection(address: RedisAddress(host: "127.0.0.1", port: 1), timeoutSeconds: 0.5) }
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}

@Suite(.enabled(if: TestRedis.address != nil, "METAREC_REDIS_URL is unset: run `make test` (it starts redis-server on loopback)"))
struct RedisConnectionTests {
    @Test func `commands round-trip binary values, integers, nil and server errors`() throws {
        let redis = try RedisConnection(address: TestRedis.address!)
        let key = Array(TestRedis.prefix("binary").utf8)
        let value: [UInt8] = [0, 1, 255, 13, 10, 0, 42]   // NUL and CRLF inside
        #expect(try redis.command([Array("SET".utf8), key, value]) == .status("OK"))
        #expect(try redis.command([Array("GET".utf8), key]) == .bulk(value))
        #expect(try redis.command([Array("STRLEN".utf8), key]) == .integer(7))
        #expect(try redis.command([Array("DEL".utf8), key]) == .integer(1))
        #expect(try redis.command([Array("GET".utf8), key]) == .null)
        guard case .error(let message) = try redis.command([Array("NOSUCHCOMMAND".utf8)]) else {
            Issue.record("an unknown command must come back as an error reply"); return
        }
        #expect(message.contains("unknown command"))
        #expect(try redis.command([Array("PING".utf8)]) == .status("PONG"), "the connection survives an error reply")
    }

    @Test func `a pipeline returns every reply in order`() throws {
        let redis = try RedisConnection(address: TestRedis.address!)
        let key = Array(TestRedis.prefix("list").utf8)
        var commands: [[[UInt8]]] = (0..<100).map { i in [Array("RPUSH".utf8), key, Array("row-\(i)".utf8)] }
        commands.append([Array("LTRIM".utf8), key, Array("-10".utf8), Array("-1".utf8)])
        commands.append([Array("LRANGE".utf8), key, Array("0".utf8), Array("-1".utf8)])
        commands.append([Array("DEL".utf8), key])
        let replies = try redis.pipeline(commands)
        #expect(replies.count == 103)
        #expect(replies[..<100].map(\.integer) == (1...100).map { Int64($0) })
        #expect(replies[100] == .status("OK"))
        #expect(replies[101].elements?.compactMap(\.bytes).map { String(decoding: $0, as: UTF8.self) }
                == (90..<100).map { "row-\($0)" })
        #expect(replies[102] == .integer(1))
    }

    @Test func `a command that outlives the timeout throws a timeout and reconnect recovers`() throws {
        let redis = try RedisConnection(address: TestRedis.address!, timeoutSeconds: 0.2)
        let list = Array(TestRedis.prefix("empty").utf8)
        #expect {
            _ = try redis.command([Array("BLPOP".utf8), list, Array("2".utf8)])
        } throws: { error in
            if case .timeout = error as? RedisError { return true }
            return false
        }
        #expect(!redis.isUsable)
        try redis.reconnect()
        #expect(try redis.command([Array("PING".utf8)]) == .status("PONG"))
    }

    @Test func `a database number selects that database`() throws {
        var address = TestRedis.address!
        address.database = 2
        let two = try RedisConnection(address: address)
        let zero = try RedisConnection(address: TestRedis.address!)
        let key = Array(TestRedis.prefix("db").utf8)
        _ = try two.command([Array("SET".utf8), key, Array("x".utf8)])
        #expect(try zero.command([Array("EXISTS".utf8), key]) == .integer(0))
        #expect(try two.command([Array("DEL".utf8), key]) == .integer(1))
    }
}
