#if HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Serving
import Testing

/// `metarec serve` as a process, guarded (issue 21): SIGTERM with a client holding a half-sent
/// body finishes within the shutdown grace and still writes the snapshot; a non-loopback host
/// without tokens is refused at start. Needs no Python (raw sockets), unlike ServeCommandTests.
@Suite(.serialized) struct ServeGuardTests {
    /// A loopback TCP connection that sends `text` and is left open (closed on deinit).
    final class HeldConnection {
        let fd: Int32

        init(port: Int, sending text: String) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(fd >= 0 && connected == 0, "connect: errno \(errno)")
            let bytes = Array(text.utf8)
            try #require(send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count)
        }

        deinit { close(fd) }
    }

    @Test func `SIGTERM with a client holding a half-sent body finishes within the grace, and the snapshot is written`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-serve-grace-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model").path, state = root.appendingPathComponent("state").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 500, users: 0)
        try synthetic.write(to: model)
        let served = try ServeCommandTests.Served(
            arguments: ["--model", model, "--state", state, "--port", "0", "--shutdown-grace-seconds", "2", "--body-timeout-seconds", "600"],
            environment: [:])
        let port = try ServeCommandTests.port(of: served.waitFor { $0.contains("listening") })
        let head = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        let held = try HeldConnection(port: port, sending: head + #"{"events": [{"user": "held", "#)
        Thread.sleep(forTimeInterval: 0.5)  // the head reaches the route, which waits for the rest of the body

        let start = ContinuousClock.now
        let status = served.terminate()
        let elapsed = ContinuousClock.now - start
        withExtendedLifetime(held) {}
        #expect(status == 0, "\(served.lines.joined(separator: "\n"))")
        #expect(elapsed >= .seconds(1), "the open request did not get its 2 s grace: \(elapsed)")
        #expect(elapsed < .seconds(2) + .seconds(15), "SIGTERM took \(elapsed) with a 2 s grace")
        #expect(served.lines.contains { $0.contains("shutdown grace over") }, "\(served.lines)")
        #expect(served.lines.contains { $0.contains("support store snapshot written") })
        #expect(FileManager.default.fileExists(atPath: state + "/support.snapshot"))
    }

    @Test func `a non-loopback host without tokens is refused at start, naming the way out`() throws {
        let served = try ServeCommandTests.Served(arguments: ["--model", "/nonexistent", "--host", "0.0.0.0"], environment: [:])
        served.process.waitUntilExit()
        _ = served.waitFor { _ in false }
        #expect(served.process.terminationStatus != 0)
        #expect(served.lines.contains { $0.contains("METAREC_HOST") && $0.contains("--insecure-no-auth") && $0.contains("--token-file") },
                "\(served.lines)")
        // With a token it gets past the settings (and stops at the missing model).
        let tokened = try ServeCommandTests.Served(arguments: ["--model", "/nonexistent", "--host", "0.0.0.0"],
                                                   environment: ["METAREC_TOKENS": "a-token"])
        tokened.process.waitUntilExit()
        _ = tokened.waitFor { _ in false }
        #expect(tokened.lines.contains { $0.contains("cannot load /nonexistent") }, "\(tokened.lines)")
    }
}
#endif
