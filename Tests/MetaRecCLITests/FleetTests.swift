#if HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Serving
import Synchronization
import Testing

/// A serving fleet (issue 23, `docs/DESIGN.md` §Serving fleet): real `metarec serve` processes
/// sharing one Redis (`--support redis://…`). Each test runs its own `redis-server` (it stops
/// and restarts it), so the suite needs the binary, which `make test` installs.
@Suite(.serialized, .enabled(if: RedisProcess.available, RedisProcess.absent))
struct FleetTests {
    /// A synthetic model directory under `root`.
    static func model(in root: URL) throws -> String {
        let path = root.appendingPathComponent("model").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 50, users: 0)
        try synthetic.write(to: path)
        return path
    }

    static func serve(_ model: String, redis: RedisProcess, _ extra: [String] = []) throws -> (ServeCommandTests.Served, Int) {
        let served = try ServeCommandTests.Served(arguments: ["--model", model, "--port", "0", "--support", redis.url] + extra,
                                                  environment: [:])
        return (served, try ServeCommandTests.port(of: served.waitFor { $0.contains("listening") }))
    }

    static func score(_ port: Int, user: String) throws -> (status: Int, json: [String: Any]) {
        let (status, body) = try EventLogCrashTests.request(port, "POST", "/v1/score", #"{"user": "\#(user)", "candidates": [{"item_id": "3"}, {"item_id": "4"}]}"#)
        return (status, (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? ["body": body])
    }

    static func event(_ port: Int, user: String, item: Int = 5) throws -> (status: Int, body: String) {
        try EventLogCrashTests.request(port, "POST", "/v1/events",
                                       #"{"events": [{"user": "\#(user)", "item_id": "\#(item)", "task0": 1, "task1": 0, "timestamp": 1700000000}]}"#)
    }

    /// The sum of every sample of `name` whose labels contain each of `labels`.
    static func metric(_ text: String, _ name: String, _ labels: [String] = []) -> Double {
        text.split(separator: "\n").filter { line in
            line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) } || labels.isEmpty && line.hasPrefix(name + " ")
        }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    @Test func `an event posted to one replica fine-tunes the next score on the other`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try Self.model(in: root)
        let redis = try RedisProcess()
        let (a, portA) = try Self.serve(model, redis: redis)
        let (b, portB) = try Self.serve(model, redis: redis)
        let user = "fleet-\(UUID().uuidString)"

        let before = try Self.score(portB, user: user)
        #expect(before.status == 200 && before.json["finetuned"] as? Bool == false && before.json["fallback"] as? String == "no_support",
                "\(before)")
        let posted = try Self.event(portA, user: user)
        #expect(posted.status == 200 && posted.body == #"{"appended":1}"#, "\(posted)")
        let after = try Self.score(portB, user: user)
        #expect(after.status == 200, "\(after)")
        #expect(after.json["finetuned"] as? Bool == true && after.json["support_rows"] as? Int == 1, "B did not see A's row: \(after.json)")
        #expect(after.json["fallback"] == nil)
        // The row is the event's: the scores moved from the base towers' (same candidates, same model).
        let baseScores = before.json["scores"] as? [[String: Double]], tunedScores = after.json["scores"] as? [[String: Double]]
        #expect(baseScores != nil && tunedScores != nil && baseScores! != tunedScores!, "fine-tuning changed no score")
        // A second event on B: A now sees both rows.
        #expect(try Self.event(portB, user: user, item: 6).status == 200)
        #expect(try Self.score(portA, user: user).json["support_rows"] as? Int == 2)
        // B: two scores and one events request, each one pipelined round trip.
        let metrics = try EventLogCrashTests.request(portB, "GET", "/metrics").1
        #expect(Self.metric(metrics, "metarec_support_store_round_trips_total") == 3, "\(metrics)")
        #expect(Self.metric(metrics, "metarec_support_store_appended_rows_total") == 1)
        #expect(a.terminate() == 0 && b.terminate() == 0)
    }

    @Test func `--support-seed copies the model directory's rows into Redis once for the whole fleet`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-fleet-seed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.appendingPathComponent("model").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 50, users: 0)
        var traffic = SyntheticTraffic(items: 50, seed: 4)
        for u in 0..<3 { try Predictor(model: synthetic).record(events: traffic.events(user: "seeded-\(u)", count: 5, tasks: 2)) }
        try synthetic.write(to: path)
        let redis = try RedisProcess()
        let (a, portA) = try Self.serve(path, redis: redis, ["--support-seed"])
        #expect(a.lines.contains { $0.contains("seeded into the shared store") && $0.contains("rows=15") }, "\(a.lines)")
        let (b, portB) = try Self.serve(path, redis: redis, ["--support-seed"])
        #expect(b.lines.contains { $0.contains("seeded already") }, "\(b.lines)")
        for port in [portA, portB] {
            let s = try Self.score(port, user: "seeded-1")
            #expect(s.json["finetuned"] as? Bool == true && s.json["support_rows"] as? Int == 5, "copied once, not twice: \(s.json)")
        }
        #expect(a.terminate() == 0 && b.terminate() == 0)
    }

    /// Clients scoring in a loop until stopped; every status seen, and the fallbacks of the 200s.
    final class Load: @unchecked Sendable {
        let statuses = Mutex<[Int: Int]>([:])
        let fallbacks = Mutex<[String: Int]>([:])
        let stopped = Atomic<Bool>(false)
        let group = DispatchGroup()

        init(port: Int, users: [String], clients: Int) {
            for c in 0..<clients {
                group.enter()
                Thread.detachNewThread { [self] in
                    var i = c
                    while !stopped.load(ordering: .relaxed) {
                        let reply = try? FleetTests.score(port, user: users[i % users.count])
                        statuses.withLock { $0[reply?.status ?? -1, default: 0] += 1 }
                        if let fallback = reply?.json["fallback"] as? String { fallbacks.withLock { $0[fallback, default: 0] += 1 } }
                        i += 1
                    }
                    group.leave()
                }
            }
        }

        func stop() {
            stopped.store(true, ordering: .relaxed)
            group.wait()
        }
    }

    /// Retries `body` every 0.1 s for up to `seconds` until it returns true.
    static func eventually(within seconds: Double, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try body() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    @Test func `Redis stopped under load: no 5xx on score, fallbacks counted, events 503; back up: fine-tuning resumes`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-fleet-down-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try Self.model(in: root)
        let redis = try RedisProcess()
        let (server, port) = try Self.serve(model, redis: redis, ["--workers", "2", "--support-timeout-ms", "100"])
        let users = (0..<8).map { "down-\($0)" }
        for user in users { #expect(try Self.event(port, user: user).status == 200) }
        #expect(try Self.score(port, user: users[0]).json["finetuned"] as? Bool == true)
        let load = Load(port: port, users: users, clients: 4)
        Thread.sleep(forTimeInterval: 0.5)

        // Paused: connections accepted, nothing answers → every call times out.
        redis.pause(true)
        Thread.sleep(forTimeInterval: 1)
        let slow = try Self.event(port, user: users[1])
        #expect(slow.status == 503 && slow.body.contains("support_store_unavailable"), "\(slow)")
        let slowScore = try Self.score(port, user: users[0])
        #expect(slowScore.status == 200 && slowScore.json["fallback"] as? String == "support_store_unavailable", "\(slowScore)")
        redis.pause(false)
        // Back: the rows were never lost, so fine-tuning resumes with no new event.
        #expect(try Self.eventually(within: 5) { try Self.score(port, user: users[0]).json["finetuned"] as? Bool == true },
                "fine-tuning did not resume after SIGCONT")

        // Killed: connections refused → every call fails fast.
        redis.stop()
        Thread.sleep(forTimeInterval: 1)
        let refused = try Self.event(port, user: users[1])
        #expect(refused.status == 503 && refused.body.contains("support_store_unavailable") && refused.body.contains("down"), "\(refused)")
        let down = try Self.score(port, user: users[0])
        #expect(down.status == 200 && down.json["finetuned"] as? Bool == false && down.json["fallback"] as? String == "support_store_unavailable",
                "\(down)")
        try redis.start()  // empty: nothing was persisted
        #expect(try Self.eventually(within: 5) { try Self.event(port, user: users[0]).status == 200 }, "events still refused after restart")
        #expect(try Self.eventually(within: 5) {
            let s = try Self.score(port, user: users[0])
            return s.json["finetuned"] as? Bool == true && s.json["support_rows"] as? Int == 1
        }, "fine-tuning did not resume after Redis came back")
        load.stop()

        let statuses = load.statuses.withLock { $0 }, fallbacks = load.fallbacks.withLock { $0 }
        #expect(statuses.keys.allSatisfy { $0 == 200 }, "statuses under load: \(statuses)")
        #expect(statuses[200, default: 0] > 20, "too little load to mean anything: \(statuses)")
        #expect(fallbacks["support_store_unavailable", default: 0] > 0, "the load saw no fallback: \(fallbacks)")
        let metrics = try EventLogCrashTests.request(port, "GET", "/metrics").1
        #expect(Self.metric(metrics, "metarec_finetune_fallbacks_total", [#"reason="support_store_unavailable""#]) > 0)
        #expect(Self.metric(metrics, "metarec_support_store_failures_total", [#"cause="timeout""#, #"operation="pull""#]) > 0, "\(metrics)")
        #expect(Self.metric(metrics, "metarec_support_store_failures_total", [#"cause="down""#, #"operation="pull""#]) > 0)
        #expect(Self.metric(metrics, "metarec_support_store_failures_total", [#"operation="append""#]) >= 2)
        #expect(Self.metric(metrics, "metarec_http_requests_total", [#"endpoint="score""#, #"status="5xx""#]) == 0)
        #expect(server.terminate() == 0)
    }
}
#endif
