import Foundation
import InMemoryLogging
import Logging
import MetaRecServer
import Serving
import Testing

/// The model repository in the server (issue 23, `docs/DESIGN.md` §Model repository): the version
/// and label routes, the A/B split of `/v1/score`, per-version metrics, hot swaps through
/// ``ScoringServer/reloadModels()`` (what SIGHUP and the poll call), and bad input at start and
/// on reload. The process-level swap under load is `MetaRecCLITests/ModelRepositoryServeTests`.
@Suite(.serialized) struct ModelRepositoryServerTests {
    static let candidates = #"[{"item_id": "3", "price": 2.5}, {"item_id": "4"}]"#

    /// Writes a synthetic model (seed `seed`, `items` warm item embeddings) as `root/name/version`, under a temporary name
    /// first and renamed into place (how a version appears atomically); returns its model version id.
    @discardableResult
    static func writeVersion(_ root: URL, _ version: Int, seed: UInt64, name: String = "ranker", items: Int = 50) throws -> String {
        var shape = ServingModel.SyntheticShape.small
        shape.seed = seed
        let model = try ServingModel.synthetic(shape)
        model.warmEmbeddings(items: items, users: 0)
        let dir = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let staging = dir.appendingPathComponent(".tmp-\(version)").path
        try model.write(to: staging)
        try FileManager.default.moveItem(atPath: staging, toPath: dir.appendingPathComponent(String(version)).path)
        return model.modelVersion
    }

    static func server(_ root: URL, split: String? = nil, poll: Duration? = nil, logger: Logger = Logger(label: "metarec-test")) throws -> ScoringServer {
        let weights = try split.map { try RoutingPlan.parse($0) } ?? []
        return try ScoringServer.repository(RepositorySettings(root: root.path, weights: weights, pollInterval: poll),
                                            configuration: ServerConfiguration(port: 0, sweepInterval: .seconds(60)), logger: logger)
    }

    /// A score request on a detached thread (``http(_:_:_:_:declaredLength:contentType:headers:)``).
    static func score(_ port: Int, _ path: String = "/v1/score", user: String = "u1") async throws -> LoopbackHTTP.Reply {
        try await http(port, "POST", path, #"{"user": "\#(user)", "candidates": \#(candidates)}"#)
    }

    @Test func `version and label routes score with that version; unknown names, versions and labels are 404 naming them`() async throws {
        let root = try temporaryDirectory("metarec-repo-routes")
        defer { try? FileManager.default.removeItem(at: root) }
        let ids = [1: try Self.writeVersion(root, 1, seed: 11), 2: try Self.writeVersion(root, 2, seed: 12)]
        try "stable 1\ncanary 2\n".write(to: root.appendingPathComponent("ranker/LABELS"), atomically: true, encoding: .utf8)
        let server = try Self.server(root)
        try await withRunning(server) { port in
            for (path, version) in [("/v1/models/ranker/versions/1/score", 1), ("/v1/models/ranker/versions/2/score", 2),
                                    ("/v1/models/ranker/labels/stable/score", 1), ("/v1/models/ranker/labels/canary/score", 2),
                                    ("/v1/models/ranker/labels/latest/score", 2), ("/v1/score", 1)] {
                let reply = try await Self.score(port, path)
                #expect(reply.status == 200, "\(path): \(reply.text)")
                #expect(reply.json?["version"] as? Int == version && reply.json?["model_version"] as? String == ids[version], "\(path): \(reply.text)")
            }
            // The two versions are different models: their scores differ.
            let a = try await Self.score(port, "/v1/models/ranker/versions/1/score")
            let b = try await Self.score(port, "/v1/models/ranker/versions/2/score")
            #expect(a.json?["scores"] as? [[String: Double]] != b.json?["scores"] as? [[String: Double]])
            for (path, field, named) in [("/v1/models/ranker/versions/3/score", "version", "version 3"),
                                         ("/v1/models/ranker/versions/one/score", "version", "version one"),
                                         ("/v1/models/ranker/labels/nightly/score", "label", "label nightly"),
                                         ("/v1/models/other/versions/1/score", "name", "model other")] {
                let reply = try await Self.score(port, path)
                let error = reply.json?["error"] as? [String: Any]
                #expect(reply.status == 404 && error?["code"] as? String == "unknown_model" && error?["field"] as? String == field, "\(path): \(reply.text)")
                #expect((error?["message"] as? String)?.contains(named) == true, "\(path): \(reply.text)")
            }
            let malformed = try await http(port, "POST", "/v1/models/ranker/versions/2/score", #"{"user": "u1"}"#)
            #expect(malformed.status == 400, "\(malformed.text)")
            let metrics = try await http(port, "GET", "/metrics").text
            #expect(Self.sample(metrics, "metarec_model_requests_total", [#"version="2""#, #"route="version""#, #"status="4xx""#]) == 1)
            #expect(Self.sample(metrics, "metarec_model_requests_total", [#"version="2""#, #"route="version""#, #"status="2xx""#]) == 2)
            #expect(Self.sample(metrics, "metarec_model_requests_total", [#"version="2""#, #"route="label""#, #"status="2xx""#]) == 2)
            let wrongMethod = try await http(port, "GET", "/v1/models/ranker/versions/1/score")
            #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "POST", "\(wrongMethod.status) \(wrongMethod.headers)")
        }
    }

    @Test func `the split sends each user to the same version every time, and per-version metrics count them`() async throws {
        let root = try temporaryDirectory("metarec-repo-split")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 21)
        try Self.writeVersion(root, 2, seed: 22)
        try "stable 1\ncanary 2\n".write(to: root.appendingPathComponent("ranker/LABELS"), atomically: true, encoding: .utf8)
        let server = try Self.server(root, split: "stable=70,canary=30")
        let reference = try TrafficSplit([.init(version: 1, weight: 70), .init(version: 2, weight: 30)])
        let counts = try await withRunning(server) { port in
            var counts = [1: 0, 2: 0]
            for u in 0..<120 {
                let user = "user-\(u)"
                let first = try await Self.score(port, user: user).json?["version"] as? Int
                let again = try await Self.score(port, user: user).json?["version"] as? Int
                #expect(first != nil && first == again && first == reference.version(user: user), "\(user): \(String(describing: first)), \(String(describing: again))")
                counts[first ?? 0, default: 0] += 2
            }
            let metrics = try await http(port, "GET", "/metrics").text
            for v in [1, 2] {
                let served = Self.sample(metrics, "metarec_model_requests_total", [#"version="\#(v)""#, #"route="split""#, #"status="2xx""#])
                #expect(served == Double(counts[v]!), "version \(v): \(served) in /metrics, \(counts[v]!) replies")
                #expect(Self.sample(metrics, "metarec_model_request_duration_seconds_count", [#"version="\#(v)""#]) == Double(counts[v]!))
            }
            return counts
        }
        #expect(counts[1]! > 0 && counts[2]! > 0, "both arms get users: \(counts)")
    }

    @Test func `an event reaches every served version's own support store`() async throws {
        let root = try temporaryDirectory("metarec-repo-events")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 25)
        try Self.writeVersion(root, 2, seed: 26)
        try "stable 1\n".write(to: root.appendingPathComponent("ranker/LABELS"), atomically: true, encoding: .utf8)
        let server = try Self.server(root)
        try await withRunning(server) { port in
            for v in [1, 2] { #expect(try await Self.score(port, "/v1/models/ranker/versions/\(v)/score", user: "e1").json?["support_rows"] as? Int == 0) }
            let posted = try await http(port, "POST", "/v1/events",
                                        #"{"events": [{"user": "e1", "item_id": "5", "task0": 1, "task1": 0, "timestamp": 1700000000}]}"#)
            #expect(posted.status == 200 && posted.text == #"{"appended":1}"#, "\(posted.text)")
            for v in [1, 2] {
                let reply = try await Self.score(port, "/v1/models/ranker/versions/\(v)/score", user: "e1")
                #expect(reply.json?["support_rows"] as? Int == 1 && reply.json?["finetuned"] as? Bool == true, "version \(v): \(reply.text)")
            }
            let stores = server.models.live.map(\.predictor.model.support)
            #expect(stores.count == 2 && stores[0] !== stores[1], "each version has its own store")
        }
    }

    /// The sum of the samples of `name` whose labels contain each of `labels`.
    static func sample(_ text: String, _ name: String, _ labels: [String]) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(name + "{") && labels.allSatisfy($0.contains) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }

    @Test func `a new version is loaded beside the running one, swapped in, and the old one unloaded`() async throws {
        let root = try temporaryDirectory("metarec-repo-swap")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Self.writeVersion(root, 1, seed: 31)
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try Self.server(root, logger: logger)
        try await withRunning(server) { port in
            #expect(try await Self.score(port).json?["model_version"] as? String == first)
            #expect(await server.reloadModels(), "a reload with nothing new still installs the same table")
            #expect(server.models.live.map(\.version) == [1])
            let second = try Self.writeVersion(root, 2, seed: 32)
            #expect(await server.reloadModels())
            let reply = try await Self.score(port)
            #expect(reply.json?["version"] as? Int == 2 && reply.json?["model_version"] as? String == second, "\(reply.text)")
            #expect(server.models.live.map(\.version) == [2], "the newest version alone serves the default split")
            #expect(try await Self.score(port, "/v1/models/ranker/versions/1/score").status == 404, "version 1 is unloaded")
            #expect(records.entries.contains { $0.message.description == "model version unloaded" && $0.metadata["version"] == "1" })
            // A label brings version 1 back beside 2 (labelled versions stay loaded).
            try "stable 1\n".write(to: root.appendingPathComponent("ranker/LABELS"), atomically: true, encoding: .utf8)
            #expect(await server.reloadModels())
            #expect(server.models.live.map(\.version) == [1, 2])
            #expect(try await Self.score(port).json?["version"] as? Int == 1, "the default split follows stable")
            #expect(try await Self.score(port, "/v1/models/ranker/labels/latest/score").json?["version"] as? Int == 2)
        }
    }

    @Test func `the poll picks up a new version without a signal`() async throws {
        let root = try temporaryDirectory("metarec-repo-poll")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 35)
        let server = try Self.server(root, poll: .milliseconds(100))
        try await withRunning(server) { port in
            #expect(try await Self.score(port).json?["version"] as? Int == 1)
            let second = try Self.writeVersion(root, 2, seed: 36)
            var version: Int?
            for _ in 0..<100 where version != 2 {  // up to 10 s on a loaded machine; typically one poll
                try await Task.sleep(for: .milliseconds(100))
                version = try await Self.score(port).json?["version"] as? Int
            }
            let reply = try await Self.score(port)
            #expect(reply.json?["version"] as? Int == 2 && reply.json?["model_version"] as? String == second, "\(reply.text)")
        }
    }

    @Test func `the poll retries a version that failed to load, logging the failure once`() async throws {
        let root = try temporaryDirectory("metarec-repo-poll-retry")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 37)
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try Self.server(root, poll: .milliseconds(100), logger: logger)
        try await withRunning(server) { port in
            // Version 2 is being copied in place (not under a temporary name): it does not load yet.
            let partial = root.appendingPathComponent("ranker/2")
            try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
            let failed = { records.entries.filter { $0.level == .error && $0.message.description.hasPrefix("model repository reload failed") } }
            for _ in 0..<100 where failed().isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(500))  // several more polls fail the same way
            #expect(failed().count == 1, "one error for one failure: \(failed().map(\.message))")
            #expect(try await Self.score(port).json?["version"] as? Int == 1, "version 1 keeps serving")
            // The copy completes: the scan is the same (versions 1 and 2), yet the poll loads it.
            let elsewhere = try temporaryDirectory("metarec-repo-poll-retry-copy")
            defer { try? FileManager.default.removeItem(at: elsewhere) }
            try Self.writeVersion(elsewhere, 2, seed: 38)
            try FileManager.default.removeItem(at: partial)
            try FileManager.default.moveItem(at: elsewhere.appendingPathComponent("ranker/2"), to: partial)
            var version: Int?
            for _ in 0..<100 where version != 2 {  // up to 10 s on a loaded machine; typically one poll
                try await Task.sleep(for: .milliseconds(100))
                version = try await Self.score(port).json?["version"] as? Int
            }
            #expect(version == 2, "the poll retried version 2")
        }
    }

    @Test func `a bad version or malformed LABELS is an error at start, and logged and ignored on reload`() async throws {
        let root = try temporaryDirectory("metarec-repo-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        let first = try Self.writeVersion(root, 1, seed: 41)
        let labels = root.appendingPathComponent("ranker/LABELS")
        try "stable 1\ncanary one\n".write(to: labels, atomically: true, encoding: .utf8)
        #expect(throws: ModelRepositoryError.malformedLabels(path: labels.path, line: 2, reason: #"expected "<label> <version>", got "canary one""#)) {
            try Self.server(root)
        }
        try FileManager.default.removeItem(at: labels)
        let broken = root.appendingPathComponent("ranker/2")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try "not a manifest".write(to: broken.appendingPathComponent("manifest.json"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ModelRepositoryError.self) { try Self.server(root) }
        guard case .unloadable(let path, _)? = error else { Issue.record("expected .unloadable, got \(String(describing: error))"); return }
        #expect(path == broken.path)

        try FileManager.default.removeItem(at: broken)
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try Self.server(root, logger: logger)
        try await withRunning(server) { port in
            try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
            #expect(await server.reloadModels() == false)
            #expect(try await Self.score(port).json?["model_version"] as? String == first, "version 1 keeps serving")
            try "stable 1\ncanary one\n".write(to: labels, atomically: true, encoding: .utf8)
            #expect(await server.reloadModels() == false)
            #expect(try await Self.score(port).status == 200)
            let failures = records.entries.filter { $0.level == .error && $0.message.description.hasPrefix("model repository reload failed") }
            #expect(failures.count == 2, "\(records.entries.map(\.message))")
            #expect(failures.first?.message.description.contains(broken.path) == true, "the log names the directory: \(failures.first.map { "\($0.message)" } ?? "")")
            #expect(failures.last?.message.description.contains("LABELS:2") == true)
            #expect(server.models.live.map(\.version) == [1])
        }
    }

    /// The versions a reload log entry names under `key` (`served`: "1=id,2=id"; `loaded`: "1,2").
    static func versions(_ entry: InMemoryLogHandler.Entry, _ key: String) -> Set<Int> {
        guard let value = entry.metadata[key] else { return [] }
        return Set("\(value)".split(separator: ",").compactMap { Int($0.split(separator: "=").first ?? "") })
    }

    @Test func `concurrent reloads run one at a time: a version is loaded once, and every version in the table serves`() async throws {
        let root = try temporaryDirectory("metarec-repo-concurrent")
        defer { try? FileManager.default.removeItem(at: root) }
        // Version 2 has a large embedding table: it takes a while to load.
        for v in 1...4 { try Self.writeVersion(root, v, seed: 80 + UInt64(v), items: v == 2 ? 100_000 : 50) }
        let labels = root.appendingPathComponent("ranker/LABELS")
        try "stable 1\ncanary 2\n".write(to: labels, atomically: true, encoding: .utf8)
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try Self.server(root, logger: logger)
        try await withRunning(server) { port in
            #expect(server.models.live.map(\.version) == [1, 2, 4])
            // One change, four reloads at once: version 3 is loaded by the first, kept by the others.
            try "stable 1\ncanary 3\n".write(to: labels, atomically: true, encoding: .utf8)
            let same = (0..<4).map { _ in Task { await server.reloadModels() } }
            for reload in same { #expect(await reload.value) }
            #expect(server.models.live.map(\.version) == [1, 3, 4])
            let loads = records.entries.filter { $0.message.description == "model repository reloaded" }.map { Self.versions($0, "loaded") }
            #expect(loads.filter { $0.contains(3) }.count == 1, "version 3 loaded once: \(loads)")
            // LABELS changes while a reload loads version 2 back (slowly): were the later reload to
            // install first (retiring version 1) and the earlier one then install its stale table,
            // `stable` would route to the drained version 1 (503 shutting_down) for good.
            try "stable 1\ncanary 2\n".write(to: labels, atomically: true, encoding: .utf8)
            let earlier = (0..<2).map { _ in Task { await server.reloadModels() } }
            try await Task.sleep(for: .milliseconds(20))
            try "stable 3\n".write(to: labels, atomically: true, encoding: .utf8)
            let later = (0..<2).map { _ in Task { await server.reloadModels() } }
            for reload in earlier + later { #expect(await reload.value) }
            #expect(server.models.live.map(\.version) == [3, 4], "the table follows the last LABELS")
            for v in [3, 4] { #expect(try await Self.score(port, "/v1/models/ranker/versions/\(v)/score").status == 200, "version \(v)") }
            for u in 0..<8 {
                let reply = try await Self.score(port, user: "c\(u)")
                #expect(reply.status == 200 && reply.json?["version"] as? Int == 3, "\(reply.status) \(reply.text)")
            }
            #expect(try await Self.score(port, "/v1/models/ranker/labels/stable/score").json?["version"] as? Int == 3)
            // In install order, each reload loaded only versions the table it replaced lacked.
            var table: Set<Int> = [1, 2, 4]
            for entry in records.entries where entry.message.description == "model repository reloaded" {
                let (served, loaded) = (Self.versions(entry, "served"), Self.versions(entry, "loaded"))
                #expect(loaded.isDisjoint(with: table) && loaded.isSubset(of: served), "loaded \(loaded) over \(table) → \(served)")
                table = served
            }
        }
    }

    @Test func `a slow upload to a version route holds no version: it unloads while the body is still arriving`() async throws {
        let root = try temporaryDirectory("metarec-repo-slow-body")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 91)
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        let server = try Self.server(root, logger: logger)
        try await withRunning(server) { port in
            let body = #"{"user": "u1", "candidates": \#(Self.candidates)}"#
            let slow = try RawConnection(port: port)
            slow.send("POST /v1/models/ranker/versions/1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + String(body.prefix(10)))
            try await Task.sleep(for: .milliseconds(200))  // the head is in: the route is waiting for the body
            try Self.writeVersion(root, 2, seed: 92)
            let reload = Task { await server.reloadModels() }
            var unloaded = false
            for _ in 0..<100 where !unloaded {  // up to 5 s; without a hold it is one drain
                try await Task.sleep(for: .milliseconds(50))
                unloaded = records.entries.contains { $0.message.description == "model version unloaded" && $0.metadata["version"] == "1" }
            }
            #expect(unloaded, "version 1 unloads without waiting for the upload")
            slow.send(String(body.dropFirst(10)))
            let reply = try slow.readReply(timeout: .seconds(10))
            #expect(reply.status == 404, "the version is taken once the body is in, and version 1 has gone: \(reply.status)")
            #expect(await reload.value)
        }
    }
}
