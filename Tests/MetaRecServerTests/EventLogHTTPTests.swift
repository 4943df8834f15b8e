import Foundation
import MetaRecServer
import ParamServer
import Serving
import Testing

/// `POST /v1/events` through the event log: acknowledged only once logged, 503
/// `event_log_unavailable` when it cannot be, and the log's metrics at `/metrics`.
@Suite struct EventLogHTTPTests {
    @Test func `with a state directory, events are refused (503) until restoreState() opens the log`() async throws {
        let state = try temporaryDirectory("metarec-eventlog-http")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        try await withServer(model, stateDirectory: state.path) { _, port in
            let reply = try await http(port, "POST", "/v1/events", #"{"events": [{"user": "5", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#)
            #expect(reply.status == 503)
            let error = reply.json?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "event_log_unavailable")
            #expect((error?["message"] as? String)?.contains("not open") == true, "\(reply.text)")
        }
        #expect(model.support.count == 0)
    }

    @Test func `under always, concurrent events are acknowledged after an fsync and counted in the metrics`() async throws {
        let state = try temporaryDirectory("metarec-eventlog-http")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        var configuration = ServerConfiguration(port: 0, stateDirectory: state.path)
        configuration.eventFsync = .always
        let server = ScoringServer(model: model, configuration: configuration)
        try server.restoreState()
        try await withRunning(server) { port in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        try await http(port, "POST", "/v1/events", #"{"events": [{"user": "u\#(i)", "item_id": "1", "task0": 1, "timestamp": 1700000000}]}"#).status
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            let metrics = try await http(port, "GET", "/metrics").text
            #expect(metrics.contains("metarec_event_log_records_total 16"), "\(metrics)")
            let fsyncs = metrics.split(separator: "\n").first { $0.hasPrefix("metarec_event_log_fsync_duration_seconds_count") }
            let count = fsyncs.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(count >= 1 && count <= 16, "one fsync covers every record written before it: \(fsyncs ?? "none")")
        }
        #expect(model.support.count == 16)
    }

    @Test func `a periodic snapshot truncates the log: the covered segment is deleted and the snapshot records the next`() async throws {
        let state = try temporaryDirectory("metarec-eventlog-periodic")
        defer { try? FileManager.default.removeItem(at: state) }
        let model = try Fixtures.model()
        var configuration = ServerConfiguration(port: 0, stateDirectory: state.path)
        configuration.snapshotInterval = .milliseconds(100)
        let server = ScoringServer(model: model, configuration: configuration)
        try server.restoreState()
        let first = state.appendingPathComponent("events-00000000000000000001.log").path
        let snapshot = ServerConfiguration.supportSnapshotPath(in: state.path)
        try await withRunning(server) { port in
            #expect(FileManager.default.fileExists(atPath: first))
            let events = #"{"events": [{"user": "p1", "item_id": "1", "task0": 1, "timestamp": 1700000000}, {"user": "p2", "item_id": "2", "task1": 0, "timestamp": 1700000000}]}"#
            #expect(try await http(port, "POST", "/v1/events", events).status == 200)
            // Wait (bounded, not a timing assertion) for the periodic snapshot to cover segment 1.
            for _ in 0..<300 where FileManager.default.fileExists(atPath: first) { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!FileManager.default.fileExists(atPath: first), "segment 1 is deleted once a snapshot covers it")
            let restored = try SupportStore(config: model.support.config)
            let position = try restored.restore(from: snapshot)
            #expect(position >= 2 && restored.count == 2)
            #expect(FileManager.default.fileExists(atPath: state.appendingPathComponent(String(format: "events-%020llu.log", position)).path))
        }
    }
}
