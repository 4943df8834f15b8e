import Foundation
import MetaRecServer
import Serving
import Testing

/// Runs `work` on a thread of its own: the raw-socket helpers block in `recv`, which must not
/// hold a thread of the cooperative pool the server's handlers run on.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// Runs a server on the small synthetic model with `limits` for the duration of `body(port)`.
func withLimitedServer<T: Sendable>(
    _ limits: ConnectionLimits, stateDirectory: String? = nil, _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    let server = ScoringServer(model: try Fixtures.model(), configuration: ServerConfiguration(
        port: 0, stateDirectory: stateDirectory, limits: limits))
    return try await withRunning(server, body)
}

/// The head of a POST that promises `length` bytes of JSON body.
func postHead(_ path: String, length: Int) -> String {
    "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\r\n"
}

/// Read timeouts, the idle timeout and the connection cap (``ConnectionLimits``), against raw
/// sockets. Bounds on times are generous: a deadline must not fire before about its time, and
/// must fire within several seconds of it.
@Suite(.serialized) struct ConnectionLimitsTests {
    @Test func `a client holding a half-sent body is cut after the body timeout, and the server still answers`() async throws {
        let limits = ConnectionLimits(headerTimeout: .seconds(30), bodyTimeout: .seconds(1), idleTimeout: .seconds(30))
        try await withLimitedServer(limits) { port in
            let held = try RawConnection(port: port)
            #expect(held.send(postHead("/v1/events", length: 1000) + #"{"events": ["#))
            let (_, closed, elapsed) = try await offPool { held.readUntilClosed(timeout: .seconds(15)) }
            #expect(closed, "still open after \(elapsed)")
            #expect(elapsed >= .milliseconds(500), "cut after \(elapsed), well before the 1 s body timeout")
            #expect(try await http(port, "GET", "/healthz").status == 200)
            let metrics = try await http(port, "GET", "/metrics").text
            #expect(metrics.contains(#"metarec_http_connection_timeouts_total{phase="body"} 1"#), "\(metrics)")
        }
    }

    @Test func `a body trickled a byte at a time is cut at the body deadline, not kept alive by each byte`() async throws {
        let limits = ConnectionLimits(headerTimeout: .seconds(30), bodyTimeout: .milliseconds(1500), idleTimeout: .seconds(30))
        try await withLimitedServer(limits) { port in
            let trickler = try RawConnection(port: port)
            #expect(trickler.send(postHead("/v1/score", length: 1000)))
            // A byte every 200 ms: a timeout reset by each read would never fire.
            let (closed, elapsed) = try await offPool { () -> (Bool, Duration) in
                let start = ContinuousClock.now
                for _ in 0..<60 {
                    if !trickler.send(" ") { return (true, ContinuousClock.now - start) }
                    if trickler.readUntilClosed(timeout: .milliseconds(200)).closed { return (true, ContinuousClock.now - start) }
                }
                return (false, ContinuousClock.now - start)
            }
            #expect(closed, "still open after \(elapsed) of trickling")
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(10), "\(elapsed)")
        }
    }

    @Test func `a head that never ends, or no request at all, is cut after the header timeout`() async throws {
        let limits = ConnectionLimits(headerTimeout: .seconds(1), bodyTimeout: .seconds(30), idleTimeout: .seconds(30))
        try await withLimitedServer(limits) { port in
            let start = ContinuousClock.now
            let partial = try RawConnection(port: port), silent = try RawConnection(port: port)
            #expect(partial.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
            for connection in [partial, silent] {
                let (data, closed, _) = try await offPool { connection.readUntilClosed(timeout: .seconds(15)) }
                let elapsed = ContinuousClock.now - start
                #expect(closed && data.isEmpty, "closed: \(closed) after \(elapsed), \(data.count) bytes")
                #expect(elapsed >= .milliseconds(500), "cut after \(elapsed), well before the 1 s header timeout")
            }
        }
    }

    @Test func `a keep-alive connection serves several requests, then is closed after the idle timeout`() async throws {
        let limits = ConnectionLimits(headerTimeout: .seconds(30), bodyTimeout: .seconds(30), idleTimeout: .seconds(1))
        try await withLimitedServer(limits) { port in
            let connection = try RawConnection(port: port)
            for _ in 0..<3 {
                #expect(connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                let reply = try await offPool { try connection.readReply(timeout: .seconds(10)) }
                #expect(reply.status == 200)
            }
            let (_, closed, elapsed) = try await offPool { connection.readUntilClosed(timeout: .seconds(15)) }
            #expect(closed, "still open after \(elapsed)")
            #expect(elapsed >= .milliseconds(500), "\(elapsed)")
        }
    }

    @Test func `connections beyond the cap get 503 and are closed, and the server answers once one closes`() async throws {
        let limits = ConnectionLimits(headerTimeout: .seconds(30), bodyTimeout: .seconds(30), idleTimeout: .seconds(30), maxConnections: 3)
        try await withLimitedServer(limits) { port in
            // Three admitted keep-alive connections, each proven open by a reply.
            let held = try (0..<3).map { _ in try RawConnection(port: port) }
            for connection in held {
                #expect(connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                #expect(try await offPool { try connection.readReply(timeout: .seconds(10)) }.status == 200)
            }
            for _ in 0..<4 {
                let extra = try RawConnection(port: port)
                let reply = try await offPool { try extra.readReply(timeout: .seconds(10)) }
                #expect(reply.status == 503)
                #expect((reply.json?["error"] as? [String: Any])?["code"] as? String == "too_many_connections")
                #expect(reply.headers["connection"] == "close")
                let (_, closed, elapsed) = try await offPool { extra.readUntilClosed(timeout: .seconds(10)) }
                #expect(closed, "a refused connection still open after \(elapsed)")
            }
            held[0].close()
            // The slot is freed when the server sees the close: poll briefly.
            var status = 0
            for _ in 0..<50 where status != 200 {
                status = try await http(port, "GET", "/healthz").status
                if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == 200)
            // The four extra connections, and any poll above that found the cap still full. The
            // last poll's connection may not be seen closed yet, so /metrics can find the cap
            // full too: poll it the same way (each refusal counts, hence `>= 4` below).
            var reply = try await http(port, "GET", "/metrics")
            for _ in 0..<50 where reply.status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                reply = try await http(port, "GET", "/metrics")
            }
            #expect(reply.status == 200)
            let metrics = reply.text
            let refused = metrics.firstMatch(of: /metarec_http_connections_refused_total ([0-9]+)/).flatMap { Int($0.1) }
            #expect((refused ?? 0) >= 4, "\(metrics)")
            // The two held and this one (and the last poll's, if its close is not yet seen).
            let open = metrics.firstMatch(of: /metarec_http_open_connections ([0-9.]+)/).flatMap { Double($0.1) }
            #expect((3...4).contains(open ?? 0), "\(metrics)")
            // The held connections were never disturbed.
            #expect(held[1].send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(try await offPool { try held[1].readReply(timeout: .seconds(10)) }.status == 200)
        }
    }
}
