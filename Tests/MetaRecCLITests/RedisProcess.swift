#if HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// A private `redis-server` on a free loopback port, for tests that stop and restart it (the
/// shared one of `scripts/with-redis.sh` serves other suites in parallel and must stay up).
/// Nothing is persisted (`--save ""`); stopped on deinit.
final class RedisProcess {
    let port: Int
    private(set) var process: Process?

    /// Whether these tests can run: `redis-server` on `PATH` (`make test` installs it through
    /// scripts/with-redis.sh); a Redis reachable at `METAREC_REDIS_URL` is not enough, these tests
    /// stop and restart their own.
    static var available: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/redis-server") }
    }

    static let absent: Comment = "redis-server is not on PATH: run `make test` (scripts/with-redis.sh installs it); these tests start and stop their own"

    init() throws {
        port = try Self.freePort()
        try start()
    }

    deinit { stop() }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts the server on ``port`` and waits until it answers `PING`.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? ping()) == true { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("redis-server on port \(port) did not answer PING within 10 s")
    }

    /// SIGKILL (a crash: nothing answers, connections reset) and wait.
    func stop() {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    /// SIGSTOP / SIGCONT: a server that accepts but does not answer (every call times out).
    func pause(_ paused: Bool) {
        if let p = process { kill(p.processIdentifier, paused ? SIGSTOP : SIGCONT) }
    }

    /// One `PING` over a fresh connection: whether `+PONG` came back.
    func ping() throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.loopback(port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let ping = Array("PING\r\n".utf8)
        guard send(fd, ping, ping.count, Int32(MSG_NOSIGNAL)) == ping.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix("+PONG")
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A port the kernel just handed out (bound to 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = loopback(0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0, "bind: errno \(errno)")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
#endif
