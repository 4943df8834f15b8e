import Foundation
import Hummingbird
import InMemoryLogging
import Logging
import MetaRecServer
import ModelDescription
import ModelMath
import ParamServer
import Serving
import ServiceLifecycle
import Testing

/// Runs the server's `ServiceGroup` (``makeServiceGroup``) on an ephemeral loopback port for the
/// duration of `body`, then shuts it down gracefully and waits until it has stopped (HTTP server
/// closed, batcher drained, snapshot written when there is a state directory).
func withServer<T: Sendable>(
    _ model: ServingModel, stateDirectory: String? = nil, logger: Logger = Logger(label: "metarec-test"),
    _ body: @Sendable (ScoringServer, Int) async throws -> T
) async throws -> T {
    let server = ScoringServer(model: model, configuration: ServerConfiguration(port: 0, sweepInterval: .milliseconds(100),
                                                                                stateDirectory: stateDirectory), logger: logger)
    return try await withRunning(server) { port in try await body(server, port) }
}

/// Runs `server`'s group for the duration of `body(port)`, then a graceful shutdown.
func withRunning<T: Sendable>(
    _ server: ScoringServer, services: [any Service] = [], _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let group = makeServiceGroup(server, services: services, onServerRunning: { port in portContinuation.yield(port) })
    let task = Task {
        defer { portContinuation.finish() }  // a server that fails to start ends the wait below
        try await group.run()
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        try await task.value
        throw LoopbackHTTP.Failure(description: "server did not start")
    }
    let result: Result<T, any Error>
    do { result = .success(try await body(port)) } catch { result = .failure(error) }
    await group.triggerGracefulShutdown()
    try await task.value
    return try result.get()
}

/// A fresh temporary directory (removed by the caller).
func temporaryDirectory(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// `LoopbackHTTP.request` on a detached thread (it blocks in recv).
func http(_ port: Int, _ method: String, _ path: String, _ body: String = "", declaredLength: Int? = nil,
          contentType: String? = "application/json", headers: [String] = []) async throws -> LoopbackHTTP.Reply {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                try LoopbackHTTP.request(port: port, method: method, path: path, body: Data(body.utf8), declaredLength: declaredLength,
                                         contentType: contentType, headers: headers)
            })
        }
    }
}

@Suite(.serialized) struct HTTPServerTests {
    @Test func `score and events round trip over loopback`() async throws {
        let model = try Fixtures.model()
        try await withServer(model) { server, port in
            let health = try await http(port, "GET", "/healthz")
            #expect(health.status == 200)
            #expect(health.json?["status"] as? String == "ok")

            let request = #"{"user": "77", "candidates": [{"item_id": "1", "price": 3.5}, {"item_id": "2"}]}"#
            let first = try await http(port, "POST", "/v1/score", request)
            #expect(first.status == 200)
            #expect(first.headers["content-type"] == "application/json")
            let firstJSON = try #require(first.json)
            #expect(firstJSON["finetuned"] as? Bool == false)
            #expect(firstJSON["model_version"] as? String == model.modelVersion)
            let scores = try #require(firstJSON["scores"] as? [[String: Double]])
            #expect(scores.count == 2 && scores[0]["task0"] != nil && scores[0]["task1"] != nil)

            let events = #"{"events": [{"user": "77", "item_id": "5", "task0": 1, "task1": 0, "timestamp": 1700000000}, {"user_id": "77", "item_id": "6", "task0": 0, "task1": true, "timestamp": 1700000001}]}"#
            let appended = try await http(port, "POST", "/v1/events", events)
            #expect(appended.status == 200)
            #expect(appended.json?["appended"] as? Int == 2)

            let second = try await http(port, "POST", "/v1/score", request)
            let secondJSON = try #require(second.json)
            #expect(secondJSON["finetuned"] as? Bool == true)
            #expect(secondJSON["support_rows"] as? Int == 2)

            let metrics = try await http(port, "GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("metarec_http_requests_total{endpoint=\"score\",status=\"2xx\"} 2"))
            #expect(metrics.text.contains("metarec_support_store_entries 1"))
            // One user with two rows: their block of the 2-row size class, entry and index.
            let perUser = metrics.text.split(separator: "\n").first { $0.hasPrefix("metarec_support_store_bytes_per_user ") }
            let bytes = perUser.flatMap { Double($0.split(separator: " ").last!) }
            #expect(bytes == Double(server.predictor.model.support.taskBytes(rows: 2)), "\(perUser ?? "no bytes_per_user line")")
            #expect(metrics.text.contains("metarec_finetune_fallbacks_total{reason=\"no_support\"} 1"))
            #expect(metrics.text.contains("metarec_http_request_duration_seconds_bucket{endpoint=\"score\",le=\"+Inf\"} 2"))
        }
    }

    @Test func `bad requests get a 4xx JSON error naming the field, and a log record`() async throws {
        let model = try Fixtures.model()
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        try await withServer(model, logger: logger) { _, port in
            let cases: [(String, String, Int, String?)] = [
                ("/v1/score", #"{"user": "1", "candidates": [{"colour": "red"}]}"#, 400, "candidates[0].colour"),
                ("/v1/score", #"{"user": "1", "candidates": [{"price": "x"}]}"#, 400, "candidates[0].price"),
                ("/v1/score", #"{"candidates": []}"#, 400, "user"),
                ("/v1/score", #"{"user": "1", "candidates": [}"#, 400, nil),
                ("/v1/events", #"{"events": [{"user": "1", "task0": 1, "timestamp": 1700000000}, {"user": "1", "task0": 7}]}"#, 400, "events[1].task0"),
            ]
            for (path, body, status, field) in cases {
                let reply = try await http(port, "POST", path, body)
                #expect(reply.status == status, "\(body)")
                let error = reply.json?["error"] as? [String: Any]
                #expect(error?["code"] != nil, "\(body)")
                if let field { #expect(error?["field"] as? String == field, "\(body)") }
            }
            #expect(model.support.count == 0)  // the half-good events request appended nothing
            // One `info` record per refused request, with its code and field.
            let refused = records.entries.filter { $0.message.description.hasPrefix("request refused") }
            #expect(refused.count == cases.count)
            let unknown = try #require(refused.first)
            #expect(unknown.level == .info)
            #expect(unknown.metadata["code"]?.description == "unknown_feature")
            #expect(unknown.metadata["field"]?.description == "candidates[0].colour")
            #expect(unknown.metadata["status"]?.description == "400")
        }
    }

    @Test func `the OpenAPI document is served, and unknown paths and methods get JSON errors`() async throws {
        let model = try Fixtures.model()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try Data(contentsOf: repository.appendingPathComponent("Sources/MetaRecServer/openapi.yaml"))
        try await withServer(model) { _, port in
            let served = try await http(port, "GET", "/openapi.yaml")
            #expect(served.status == 200)
            #expect(served.headers["content-type"] == "application/yaml")
            #expect(served.body == document)
            let wrongMethod = try await http(port, "DELETE", "/v1/score")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["allow"] == "POST")
            #expect((wrongMethod.json?["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
            let unknown = try await http(port, "GET", "/v2/score")
            #expect(unknown.status == 404)
            #expect((unknown.json?["error"] as? [String: Any])?["code"] as? String == "not_found")
        }
    }

    @Test func `oversized bodies and 100k candidates are refused and the server stays up`() async throws {
        let model = try Fixtures.model()
        try await withServer(model) { _, port in
            // 10 MB body: refused on Content-Length before it is read.
            let huge = String(repeating: " ", count: 10 << 20)
            let big = try await http(port, "POST", "/v1/score", huge)
            #expect(big.status == 413)
            #expect((big.json?["error"] as? [String: Any])?["code"] as? String == "body_too_large")
            // A body over the limit without an honest Content-Length is cut off at the limit.
            let lying = try await http(port, "POST", "/v1/score", String(repeating: " ", count: 2 << 20), declaredLength: 2 << 20)
            #expect(lying.status == 413)
            // 100 k candidates in under 1 MiB: the candidate limit (1000).
            let candidates = Array(repeating: "{}", count: 100_000).joined(separator: ",")
            let many = try await http(port, "POST", "/v1/score", #"{"user": "1", "candidates": [\#(candidates)]}"#)
            #expect(many.status == 400)
            #expect((many.json?["error"] as? [String: Any])?["field"] as? String == "candidates")
            #expect(try await http(port, "GET", "/healthz").status == 200)
            let ok = try await http(port, "POST", "/v1/score", #"{"user": "1", "candidates": [{"item_id": "1"}]}"#)
            #expect(ok.status == 200)
        }
    }

    @Test func `the server sweeps periodically and snapshots the support store into the state directory`() async throws {
        let state = try temporaryDirectory("metarec-state")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        try await withServer(model, stateDirectory: state.path) { server, port in
            try server.restoreState()  // opens the event log: events are refused before
            let events = #"{"events": [{"user": "5", "item_id": "1", "task0": 1, "timestamp": 1700000000}, {"user": "6", "item_id": "2", "task1": 0, "timestamp": 1700000000}]}"#
            #expect(try await http(port, "POST", "/v1/events", events).status == 200)
            try await Task.sleep(for: .milliseconds(350))
            let metrics = try await http(port, "GET", "/metrics")
            #expect(metrics.text.contains("metarec_eviction_sweeps_total "))
            #expect(!metrics.text.contains("metarec_eviction_sweeps_total 0\n"))
            try server.snapshot()
        }
        let restored = try SupportStore(config: model.support.config)
        try restored.restore(from: ServerConfiguration.supportSnapshotPath(in: state.path))
        #expect(restored.count == 2)
    }

    @Test func `a graceful shutdown stops the server, then drains the batcher, then snapshots, and logs each`() async throws {
        let state = try temporaryDirectory("metarec-state")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try await withServer(model, stateDirectory: state.path, logger: logger) { (server, port) async throws -> ScoringServer in
            try server.restoreState()
            let events = #"{"events": [{"user": "5", "item_id": "1", "task0": 1, "timestamp": 1700000000}, {"user": "6", "item_id": "2", "task1": 0, "timestamp": 1700000000}]}"#
            #expect(try await http(port, "POST", "/v1/events", events).status == 200)
            #expect(try await http(port, "POST", "/v1/score", #"{"user": "5", "candidates": [{"item_id": "1"}]}"#).status == 200)
            return server
        }
        // The batcher was drained (it refuses new work) and the snapshot written without a manual call.
        await #expect(throws: ServingError.shuttingDown) {
            _ = try await server.batcher.score(ScoreRequest(user: "5", candidates: [["item_id": .string("1")]]))
        }
        let restored = try SupportStore(config: model.support.config)
        try restored.restore(from: ServerConfiguration.supportSnapshotPath(in: state.path))
        #expect(restored.count == 2)
        // In order: listening, batcher drained, snapshot written, shutdown complete.
        let messages = records.entries.map(\.message.description)
        let order = ["listening", "auto-batcher drained", "support store snapshot written", "shutdown complete"].map { messages.firstIndex(of: $0) }
        #expect(order.allSatisfy { $0 != nil }, "\(messages)")
        #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "\(messages)")
        let snapshot = try #require(records.entries.first { $0.message.description == "support store snapshot written" })
        #expect(snapshot.metadata["tasks"]?.description == "2")
        #expect(snapshot.metadata["path"]?.description == ServerConfiguration.supportSnapshotPath(in: state.path))
    }

    @Test func `without a state directory nothing is snapshotted, and the log says so`() async throws {
        let model = try Fixtures.model()
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        try await withServer(model, logger: logger) { (server, port) async throws -> Void in
            #expect(try server.restoreState() == false)
            #expect(try await http(port, "POST", "/v1/events", #"{"events": [{"user": "5", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#).status == 200)
        }
        let notices = records.entries.filter { $0.level == .notice && $0.message.description.contains("no state directory") }
        #expect(notices.count == 1)  // at shutdown (snapshot)
        // At start (restore): a warning that events are not durable.
        #expect(records.entries.filter { $0.level == .warning && $0.message.description.contains("events are not durable") }.count == 1)
    }
}

extension InMemoryLogHandler {
    /// A logger at `trace` whose records are kept in memory, and the handler to read them.
    static func makeLogger(label: String) -> (Logger, InMemoryLogHandler) {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: label, factory: { _ in handler })
        logger.logLevel = .trace
        return (logger, handler)
    }
}
