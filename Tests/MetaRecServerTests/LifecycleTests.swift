import Foundation
import InMemoryLogging
import Logging
import MetaRecServer
import ModelDescription
import ParamServer
import Serving
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// The server's `ServiceGroup` (``makeServiceGroup``): the order of a shutdown, a failing
/// service, and a graceful shutdown under load.
@Suite(.serialized) struct LifecycleTests {
    struct Boom: Error, Equatable {}

    /// The users whose events the server acknowledged (200), from every client task.
    final class Acknowledged: Sendable {
        let users = Mutex<Set<String>>([])
    }

    /// Fails once the server has answered a request, as a broken dependency of an embedding app would.
    struct FailingService: Service {
        let failAfter: Duration
        func run() async throws {
            try await Task.sleep(for: failAfter)
            throw Boom()
        }
    }

    @Test func `a failing service stops the rest, and the snapshot is still taken last`() async throws {
        let state = try temporaryDirectory("metarec-state")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = ScoringServer(model: model, configuration: ServerConfiguration(port: 0, stateDirectory: state.path), logger: logger)
        try server.restoreState()
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = makeServiceGroup(server, services: [FailingService(failAfter: .milliseconds(500))],
                                     onServerRunning: { continuation.yield($0) })
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        #expect(try await http(port, "POST", "/v1/events", #"{"events": [{"user": "9", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#).status == 200)
        // The group ends by itself, with the failing service's error.
        await #expect(throws: Boom.self) { try await task.value }
        // The HTTP server is closed, the batcher refuses work, and the acknowledged event is in the snapshot.
        #expect(throws: (any Error).self) { _ = try LoopbackHTTP.request(port: port, method: "GET", path: "/healthz") }
        await #expect(throws: ServingError.shuttingDown) {
            _ = try await server.batcher.score(ScoreRequest(user: "9", candidates: [["item_id": .string("1")]]))
        }
        let restored = try SupportStore(config: model.support.config)
        try restored.restore(from: ServerConfiguration.supportSnapshotPath(in: state.path))
        #expect(restored.count == 1)
        let messages = records.entries.map(\.message.description)
        let drained = try #require(messages.firstIndex(of: "auto-batcher drained"))
        let written = try #require(messages.firstIndex(of: "support store snapshot written"))
        #expect(drained < written)
    }

    @Test func `a graceful shutdown under load loses no acknowledged event`() async throws {
        let state = try temporaryDirectory("metarec-state")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        let server = ScoringServer(model: model, configuration: ServerConfiguration(port: 0, workers: 2, stateDirectory: state.path))
        try server.restoreState()
        let acknowledged = Acknowledged()
        try await testGracefulShutdown { trigger in
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let group = makeServiceGroup(server, onServerRunning: { continuation.yield($0) })
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                // 8 clients, each a stream of events (one new user per event) and score requests, until refused.
                for client in 0..<8 {
                    tasks.addTask {
                        for i in 0..<200 {
                            let user = "c\(client)-\(i)"
                            let body = #"{"events": [{"user": "\#(user)", "item_id": "\#(i % 50)", "task0": 1, "timestamp": 1700000000}]}"#
                            guard let reply = try? await http(port, "POST", "/v1/events", body) else { return }
                            if reply.status == 200 { acknowledged.users.withLock { _ = $0.insert(user) } }
                            _ = try? await http(port, "POST", "/v1/score", #"{"user": "\#(user)", "candidates": [{"item_id": "1"}]}"#)
                        }
                    }
                }
                // Shut down mid-load (as SIGTERM does through the group's signal handler).
                while acknowledged.users.withLock({ $0.count }) < 40 { try await Task.sleep(for: .milliseconds(10)) }
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        let acked = acknowledged.users.withLock { $0 }
        #expect(acked.count >= 40 && acked.count < 1600, "the shutdown came mid-load: \(acked.count) acknowledged")
        let restored = try SupportStore(config: model.support.config)
        try restored.restore(from: ServerConfiguration.supportSnapshotPath(in: state.path))
        // Every acknowledged event's user has its row in the snapshot (rows of events whose reply was lost may be there too).
        let missing = acked.filter { restored.rowCount(task: server.predictor.taskKey(user: $0)) == 0 }
        #expect(missing.isEmpty, "\(missing.count) acknowledged events missing from the snapshot")
        #expect(restored.count >= acked.count)
    }
}

extension SupportStore {
    /// The servable rows of `task` (0 for an unknown task).
    func rowCount(task: UInt64) -> Int {
        var features = [Float](repeating: 0, count: config.capacity * config.rowWidth)
        var labels = [Float](repeating: 0, count: config.capacity * config.labelWidth)
        return features.withUnsafeMutableBufferPointer { f in labels.withUnsafeMutableBufferPointer { l in pull(task: task, features: f, labels: l) } }
    }
}
