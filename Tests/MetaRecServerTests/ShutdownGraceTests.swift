import Foundation
import MetaRecServer
import Serving
import ServiceLifecycle
import Testing

/// The bounded shutdown grace (``ConnectionLimits/shutdownGrace``) in process: a graceful shutdown
/// gives an open request the grace, then cuts it, and the snapshot is still written after.
@Suite(.serialized) struct ShutdownGraceTests {
    /// A started group on `configuration` and its port; the caller shuts it down.
    static func start(_ configuration: ServerConfiguration) async throws -> (ServiceGroup, Task<Void, any Error>, Int, ScoringServer) {
        let server = ScoringServer(model: try Fixtures.model(), configuration: configuration)
        try server.restoreState()  // opens the event log when there is a state directory, as `metarec serve` does
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = makeServiceGroup(server, onServerRunning: { continuation.yield($0) })
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await task.value
            throw LoopbackHTTP.Failure(description: "server did not start")
        }
        return (group, task, port, server)
    }

    @Test func `a client holding a half-sent body is cut after the grace, and the snapshot is still written`() async throws {
        let state = try temporaryDirectory("metarec-grace")
        defer { try? FileManager.default.removeItem(at: state) }
        let limits = ConnectionLimits(bodyTimeout: .seconds(300), shutdownGrace: .seconds(1))
        let (group, task, port, server) = try await Self.start(ServerConfiguration(port: 0, stateDirectory: state.path, limits: limits))
        let events = #"{"events": [{"user": "g", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#
        #expect(try await http(port, "POST", "/v1/events", events).status == 200)
        let held = try RawConnection(port: port)
        #expect(held.send(postHead("/v1/events", length: 1000) + #"{"events": ["#))
        try await Task.sleep(for: .milliseconds(300))  // the head reaches the route, which waits for the body

        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await task.value
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(500), "the open request did not get its grace: \(elapsed)")
        #expect(elapsed < .seconds(10), "shutdown took \(elapsed) with a 1 s grace")
        #expect(held.readUntilClosed(timeout: .seconds(5)).closed)
        #expect(FileManager.default.fileExists(atPath: ServerConfiguration.supportSnapshotPath(in: state.path)))
        let metrics = String(decoding: server.registry.emitToBuffer(), as: UTF8.self)
        #expect(metrics.contains("metarec_http_connections_cut_at_shutdown_total 1"), "\(metrics)")
    }

    @Test func `a request finished within the grace is answered`() async throws {
        let limits = ConnectionLimits(shutdownGrace: .seconds(20))
        let (group, task, port, server) = try await Self.start(ServerConfiguration(port: 0, limits: limits))
        let body = #"{"events": [{"user": "late", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#
        let client = try RawConnection(port: port)
        #expect(client.send(postHead("/v1/events", length: body.utf8.count) + String(body.prefix(10))))
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(300))
        #expect(client.send(String(body.dropFirst(10))))
        let reply = try await offPool { try client.readReply(timeout: .seconds(10)) }
        #expect(reply.status == 200, "\(reply.text)")
        try await task.value
        #expect(ContinuousClock.now - start < .seconds(15), "the shutdown waited for the grace after the request was answered")
        #expect(server.predictor.model.support.count == 1)
    }
}
