import Foundation
@testable import MetaRecServer
@testable import Recommendation
import ModelDescription
import Retrieval
import Serving
import TensorCore
import Testing

/// `POST /v1/recommend` over loopback on a synthetic ranker and a small synthetic retrieval
/// model, against a reference built from the parts: recall by a full sort of `⟨u, v_i⟩`, then
/// the ranker's own `/v1/score` on those candidates.
@Suite(.serialized) struct RecommendTests {
    /// A two-tower model over items "0" … "59" (the synthetic ranker's `item_id` values), published and read back.
    static func retrieval(items: Int = 60) throws -> RetrievalModel {
        var config = RetrievalConfig(items: items, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.maxHistory, config.seed) = (6, 5, 8, 8, 11)
        let p = RetrievalParameters(config: config)
        let trained = TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: Tensor(shape: [items, 0])),
                                       bestEpoch: 1, bestValidationRecall: 0, epochs: [])
        let root = try temporaryDirectory("recommend-model")
        defer { try? FileManager.default.removeItem(at: root) }
        try RetrievalModelFiles.write(trained, config: config, catalogue: Array(0..<items), to: root.path)
        return try RetrievalModelFiles.read(root.path)
    }

    static func withRecommendServer<T: Sendable>(catalogue csv: String? = nil,
                                                 _ body: @Sendable (RetrievalModel, Int) async throws -> T) async throws -> T {
        let model = try Fixtures.model()
        let retrieval = try retrieval()
        var catalogue: ItemCatalogue?
        if let csv {
            let directory = try temporaryDirectory("catalogue")
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("items.csv")
            try Data(csv.utf8).write(to: file)
            catalogue = try ItemCatalogue(path: file.path, itemFeature: "item_id", ranker: model.config)
        }
        let recommender = try Recommender(model: retrieval, itemFeature: "item_id", ranker: model.config, catalogue: catalogue)
        let server = ScoringServer(model: model, configuration: ServerConfiguration(port: 0, sweepInterval: .seconds(60)),
                                   recommender: recommender)
        return try await withRunning(server) { port in try await body(retrieval, port) }
    }

    /// The expected items: the `n` best rows by `⟨u, v_i⟩` in Double (ties to the lower row), scored by
    /// `/v1/score` in that order, sorted by `task`'s score (ties: retrieval score, recall order), the first `k`.
    static func reference(_ m: RetrievalModel, port: Int, user: String, history: [Int32], excluded: Set<Int32>,
                          n: Int, k: Int, task: String, context: String,
                          features: (String) -> String = { _ in "" }) async throws -> [(key: String, retrieval: Double, score: Double)] {
        let u = UserTower.embed(m.parameters, histories: [history[...]], maxLength: m.manifest.maxHistory)
        let scored = (0..<m.index.count).filter { !excluded.contains(Int32($0)) }.map { i -> (Double, Int) in
            ((0..<m.index.dimension).reduce(0.0) { $0 + Double(u[0, $1]) * Double(m.index.embeddings[i, $1]) }, i)
        }
        let recalled = scored.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }.prefix(n)
        let candidates = recalled.map { #"{"item_id": "\#(m.index.keys[$0.1])"\#(features(m.index.keys[$0.1]))}"# }.joined(separator: ",")
        let reply = try await http(port, "POST", "/v1/score", #"{"user": "\#(user)", "candidates": [\#(candidates)], "context": \#(context)}"#)
        let scores = try #require(reply.json?["scores"] as? [[String: Double]], "\(reply.text)")
        let rows = zip(recalled, scores).enumerated().map { (m.index.keys[$1.0.1], $1.0.0, $1.1[task]!, $0) }
        return rows.sorted { a, b in a.2 != b.2 ? a.2 > b.2 : (a.1 != b.1 ? a.1 > b.1 : a.3 < b.3) }.prefix(k).map { ($0.0, $0.1, $0.2) }
    }

    static func check(_ reply: LoopbackHTTP.Reply, against expected: [(key: String, retrieval: Double, score: Double)], task: String) throws {
        #expect(reply.status == 200, "\(reply.text)")
        let items = try #require(reply.json?["items"] as? [[String: Any]], "\(reply.text)")
        #expect(items.map { $0["item"] as? String } == expected.map(\.key))
        for (item, e) in zip(items, expected) {
            #expect(abs((item["retrieval_score"] as? Double ?? .nan) - e.retrieval) < 1e-5)
            #expect(abs(((item["scores"] as? [String: Double])?[task] ?? .nan) - e.score) < 1e-5)
        }
    }

    @Test func `recommend returns the top k of a full-sort recall ranked by the ranker's own scores`() async throws {
        try await Self.withRecommendServer { m, port in
            let body = #"{"user": "u7", "k": 5, "n": 20, "history": ["3", 8, "15", "x-unknown"], "exclude": ["4", "nope"], "context": {"price": 2.5}}"#
            let reply = try await http(port, "POST", "/v1/recommend", body)
            let expected = try await Self.reference(m, port: port, user: "u7", history: [3, 8, 15], excluded: [3, 4, 8, 15],
                                                    n: 20, k: 5, task: "task0", context: #"{"price": 2.5}"#)
            try Self.check(reply, against: expected, task: "task0")
            let json = try #require(reply.json)
            #expect(json["order_by"] as? String == "task0" && json["recalled"] as? Int == 20 && json["history_items"] as? Int == 3)
            #expect(json["unknown_history"] as? [String] == ["x-unknown"])
            #expect(json["retrieval_model_version"] as? String == m.manifest.modelVersion)
        }
    }

    @Test func `without a history the user's recent events are the history; order_by and exclude_seen apply`() async throws {
        try await Self.withRecommendServer { m, port in
            let now = Int(Date().timeIntervalSince1970)
            let events = ["10", "11", "12"].map { #"{"user_id": "u9", "item_id": "\#($0)", "task0": 1, "task1": 0, "timestamp": \#(now)}"# }
            let posted = try await http(port, "POST", "/v1/events", #"{"events": [\#(events.joined(separator: ","))]}"#)
            #expect(posted.status == 200, "\(posted.text)")
            let reply = try await http(port, "POST", "/v1/recommend", #"{"user": "u9", "k": 4, "n": 12, "order_by": "task1", "exclude_seen": false}"#)
            let expected = try await Self.reference(m, port: port, user: "u9", history: [10, 11, 12], excluded: [],
                                                    n: 12, k: 4, task: "task1", context: "{}")
            try Self.check(reply, against: expected, task: "task1")
            #expect(reply.json?["history_items"] as? Int == 3 && reply.json?["order_by"] as? String == "task1")
            // An unknown user has no history: the empty-history query, still k items.
            let cold = try await http(port, "POST", "/v1/recommend", #"{"user": "nobody", "k": 3}"#)
            let coldExpected = try await Self.reference(m, port: port, user: "nobody", history: [], excluded: [],
                                                        n: 200, k: 3, task: "task0", context: "{}")
            try Self.check(cold, against: coldExpected, task: "task0")
            #expect(cold.json?["recalled"] as? Int == 60)
        }
    }

    @Test func `with a catalogue each candidate carries its item's features`() async throws {
        // Every third item has a price and a category; "5" a quoted category with a comma and quotes; the rest the key alone.
        var csv = "item_id,price,category\r\n"
        for i in stride(from: 0, to: 60, by: 3) { csv += "\(i),\(Double(i) / 4),c\(i % 7)\r\n" }
        csv += #"5,,"x,""y""""# + "\n"
        try await Self.withRecommendServer(catalogue: csv) { m, port in
            let features = { (key: String) -> String in
                guard let i = Int(key) else { return "" }
                if i == 5 { return #", "category": "x,\"y\"""# }
                return i % 3 == 0 ? #", "price": \#(Double(i) / 4), "category": "c\#(i % 7)""# : ""
            }
            let reply = try await http(port, "POST", "/v1/recommend", #"{"user": "u3", "k": 8, "n": 60, "history": ["1", "2"]}"#)
            let expected = try await Self.reference(m, port: port, user: "u3", history: [1, 2], excluded: [1, 2],
                                                    n: 60, k: 8, task: "task0", context: "{}", features: features)
            try Self.check(reply, against: expected, task: "task0")
            // Without the features the ranker's scores differ: the catalogue reached the ranker.
            let plain = try await Self.reference(m, port: port, user: "u3", history: [1, 2], excluded: [1, 2],
                                                 n: 60, k: 8, task: "task0", context: "{}")
            #expect(plain.map(\.score) != expected.map(\.score))
        }
    }

    @Test func `bad requests are 4xx naming the field`() async throws {
        try await Self.withRecommendServer { _, port in
            let cases: [(String, Int, String, String?)] = [
                (#"{"user": "1", "k": 0}"#, 400, "invalid_value", "k"),
                (#"{"user": "1", "k": 5, "n": 4}"#, 400, "invalid_value", "n"),
                (#"{"user": "1", "n": 100000000}"#, 400, "invalid_value", "n"),
                (#"{"user": "1", "order_by": "clicks"}"#, 400, "invalid_value", "order_by"),
                (#"{"k": 3}"#, 400, "missing_field", "user"),
                (#"{"user": "1", "colour": 3}"#, 400, "invalid_value", "colour"),
                (#"{"user": "1", "k": 2, "k": 3}"#, 400, "duplicate_key", "k"),
                (#"{"user": "1", "history": "7"}"#, 400, "wrong_type", "history"),
                (#"{"user": "1", "history": [{"a": 1}]}"#, 400, "wrong_type", "history[0]"),
                (#"{"user": "1", "k": 2.5}"#, 400, "wrong_type", "k"),
                (#"{"user": "1", "context": {"colour": "red"}}"#, 400, "unknown_feature", nil),
                (#"{"user": "1""#, 400, "malformed_json", nil),
                (#"{"user": "1", "exclude": [\#((0...RecommendRequest.maxListLength).map { "\"\($0)\"" }.joined(separator: ","))]}"#,
                 400, "invalid_value", "exclude"),
                (#"{"user": "1", "history": [\#((0...RecommendRequest.maxListLength).map(String.init).joined(separator: ","))]}"#,
                 400, "invalid_value", "history"),
            ]
            for (body, status, code, field) in cases {
                let reply = try await http(port, "POST", "/v1/recommend", body)
                let error = reply.json?["error"] as? [String: Any]
                #expect(reply.status == status && error?["code"] as? String == code, "\(body): \(reply.status) \(reply.text)")
                if let field { #expect(error?["field"] as? String == field, "\(body): \(reply.text)") }
            }
        }
    }

    @Test func `without a retrieval model the route answers 404 no_retrieval_model`() async throws {
        try await withServer(try Fixtures.model()) { _, port in
            let reply = try await http(port, "POST", "/v1/recommend", #"{"user": "1"}"#)
            #expect(reply.status == 404 && (reply.json?["error"] as? [String: Any])?["code"] as? String == "no_retrieval_model", "\(reply.text)")
            #expect(try await http(port, "GET", "/v1/recommend").status == 405)
        }
    }

    @Test func `an item feature the ranker does not have is refused at start`() throws {
        let model = try Fixtures.model()
        #expect(throws: Recommender.Invalid.self) { try Recommender(model: try Self.retrieval(), itemFeature: "movie_id", ranker: model.config) }
        let numeric = #expect(throws: Recommender.Invalid.self) {
            try Recommender(model: try Self.retrieval(), itemFeature: "price", ranker: model.config)
        }
        #expect(numeric?.description.contains("not categorical") == true)
    }

    @Test func `without n the recall size defaults to 200, capped by serving.max_candidates`() throws {
        let model = try Fixtures.model()
        let recommender = try Recommender(model: try Self.retrieval(), itemFeature: "item_id", ranker: model.config)
        let request = RecommendRequest(user: "1", k: 5)
        #expect(try recommender.plan(request, tasks: ["task0", "task1"], maxCandidates: 1000).n == RecommendRequest.defaultN)
        #expect(try recommender.plan(request, tasks: ["task0", "task1"], maxCandidates: 50).n == 50)
    }
}
