#if HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Serving
import Testing

/// The crash test of durable events (issue 21): the real `metarec serve`, N events acknowledged
/// one request each (concurrently, so `always` shares fsyncs), SIGKILL (no shutdown, no snapshot),
/// a restart on the same `--state`, and all N are back: the replay says N records, `/metrics`
/// has N users with support rows and N replayed records, and a score sees each user's row.
/// No timing assertion: `every_second` waits past one second after the last ack before the kill
/// only because that is its promise.
///
/// What it proves: the record is written before the 200 and replayed after a kill. A SIGKILL
/// leaves the kernel's page cache intact, so it cannot tell the fsync policies apart (only a
/// machine crash can); the fsync path is exercised, not its effect on a power cut.
@Suite(.serialized) struct EventLogCrashTests {
    static let n = 24

    /// One HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`; (status, body).
    static func request(_ port: Int, _ method: String, _ path: String, _ body: String = "") throws -> (Int, String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "connect: errno \(errno)")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            try #require(n > 0, "send: errno \(errno)")
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let reply = String(decoding: received, as: UTF8.self)
        let status = Int(reply.split(separator: " ").dropFirst().first ?? "") ?? 0
        let payload = reply.range(of: "\r\n\r\n").map { String(reply[$0.upperBound...]) } ?? ""
        return (status, payload)
    }

    /// The value of the unlabelled Prometheus sample `name`.
    static func metric(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    static func event(_ i: Int) -> String {
        #"{"events": [{"user": "crash-\#(i)", "item_id": "\#(i % 7)", "task0": \#(i % 2), "timestamp": \#(1_700_000_000 + i)}]}"#
    }

    @Test(arguments: ["always", "every_second", "off"])
    func `SIGKILL after N acknowledged events: a restart on the same state has all N`(policy: String) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-crash-\(policy)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model").path, state = root.appendingPathComponent("state").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 50, users: 0)
        try synthetic.write(to: model)
        let arguments = ["--model", model, "--state", state, "--port", "0", "--event-fsync", policy]
        let first = try ServeCommandTests.Served(arguments: arguments, environment: [:])
        let port = try ServeCommandTests.port(of: first.waitFor { $0.contains("listening") })
        let statuses = Array(repeating: 0, count: Self.n)
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: Self.n)
        defer { results.deallocate() }
        _ = results.initialize(from: statuses)
        nonisolated(unsafe) let out = results
        DispatchQueue.concurrentPerform(iterations: Self.n) { i in
            let reply = try? Self.request(port, "POST", "/v1/events", Self.event(i))
            out[i] = reply?.0 == 200 && reply?.1 == #"{"appended":1}"# ? 200 : (reply?.0 ?? -1)
        }
        #expect(Array(results) == Array(repeating: 200, count: Self.n), "every event acknowledged")
        if policy == "every_second" { Thread.sleep(forTimeInterval: 1.5) }  // its promise: on disk within a second
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal)
        #expect(!FileManager.default.fileExists(atPath: state + "/support.snapshot"), "no snapshot: the kill skipped shutdown")

        let second = try ServeCommandTests.Served(arguments: arguments, environment: [:])
        let restarted = try ServeCommandTests.port(of: second.waitFor { $0.contains("listening") })
        let replayed = try #require(second.lines.first { $0.contains("event log replayed") })
        #expect(replayed.contains("records=\(Self.n)") && replayed.contains("damaged_segments=0"), "\(replayed)")
        let metrics = try Self.request(restarted, "GET", "/metrics").1
        #expect(Self.metric(metrics, "metarec_event_log_replayed_records") == Double(Self.n))
        #expect(Self.metric(metrics, "metarec_support_store_entries") == Double(Self.n))
        for i in [0, Self.n / 2, Self.n - 1] {
            let (status, body) = try Self.request(restarted, "POST", "/v1/score", #"{"user": "crash-\#(i)", "candidates": [{"item_id": "3"}]}"#)
            #expect(status == 200 && body.contains(#""support_rows":1"#), "user crash-\(i): \(status) \(body)")
        }
        #expect(second.terminate() == 0)
        #expect(second.lines.contains { $0.contains("support store snapshot written") })
    }
}
#endif
