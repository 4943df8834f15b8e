import Foundation
import InMemoryLogging
import Logging
import MetaRecServer
import Serving
import Testing

/// Bearer tokens (``BearerTokens``, ``ServerConfiguration/tokens``) over loopback HTTP.
@Suite(.serialized) struct AuthenticationTests {
    static let tokens = ["first-token-0123456789", "second-token-abcdef"]

    static func withAuthenticatedServer<T: Sendable>(
        logger: Logger = Logger(label: "metarec-test"), _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let server = ScoringServer(model: try Fixtures.model(), configuration: ServerConfiguration(
            port: 0, tokens: try BearerTokens(tokens)), logger: logger)
        return try await withRunning(server, body)
    }

    static func errorCode(_ reply: LoopbackHTTP.Reply) -> String? {
        (reply.json?["error"] as? [String: Any])?["code"] as? String
    }

    @Test func `without a token, or with a wrong one, every route but healthz is 401 with WWW-Authenticate`() async throws {
        let (logger, records) = InMemoryLogHandler.makeLogger(label: "metarec-test")
        try await Self.withAuthenticatedServer(logger: logger) { port in
            let score = #"{"user": "1", "candidates": [{"item_id": "1"}]}"#
            let cases: [(String, String, [String], String)] = [
                ("POST", "/v1/score", [], #"Bearer realm="metarec""#),
                ("POST", "/v1/score", ["Authorization: Bearer wrong-token"], #"Bearer realm="metarec", error="invalid_token""#),
                ("POST", "/v1/score", ["Authorization: Bearer first-token-012345678"], #"Bearer realm="metarec", error="invalid_token""#),
                ("POST", "/v1/score", ["Authorization: Bearer first-token-01234567890"], #"Bearer realm="metarec", error="invalid_token""#),
                ("POST", "/v1/score", ["Authorization: Basic Zmlyc3QtdG9rZW4="], #"Bearer realm="metarec""#),
                ("POST", "/v1/score", ["Authorization: Bearer "], #"Bearer realm="metarec""#),
                ("POST", "/v1/events", [], #"Bearer realm="metarec""#),
                ("GET", "/metrics", ["Authorization: Bearer nope"], #"Bearer realm="metarec", error="invalid_token""#),
                ("GET", "/openapi.yaml", [], #"Bearer realm="metarec""#),
                ("GET", "/no/such/path", [], #"Bearer realm="metarec""#),  // not told apart from a known path
            ]
            for (method, path, headers, challenge) in cases {
                let reply = try await http(port, method, path, method == "POST" ? score : "", headers: headers)
                #expect(reply.status == 401, "\(method) \(path) \(headers)")
                #expect(reply.headers["www-authenticate"] == challenge, "\(headers)")
                #expect(reply.headers["content-type"] == "application/json")
                #expect(Self.errorCode(reply) == "unauthorized", "\(reply.text)")
            }
            let health = try await http(port, "GET", "/healthz")
            #expect(health.status == 200 && health.json?["status"] as? String == "ok")
            // One `info` record per refusal, never with the presented token.
            let refused = records.entries.filter { $0.message.description.hasPrefix("request refused: unauthorized") }
            #expect(refused.count == cases.count && refused.allSatisfy { $0.level == .info && $0.metadata["status"]?.description == "401" })
            #expect(!records.entries.contains { "\($0.message) \($0.metadata)".contains("wrong-token") })
        }
    }

    @Test func `either configured token opens every route`() async throws {
        try await Self.withAuthenticatedServer { (port: Int) async throws in
            let score = #"{"user": "1", "candidates": [{"item_id": "1"}]}"#
            for header in ["Authorization: Bearer first-token-0123456789", "Authorization: bearer  second-token-abcdef "] {
                #expect(try await http(port, "POST", "/v1/score", score, headers: [header]).status == 200, "\(header)")
                #expect(try await http(port, "GET", "/metrics", headers: [header]).status == 200)
                #expect(try await http(port, "GET", "/openapi.yaml", headers: [header]).status == 200)
                #expect(try await http(port, "GET", "/healthz", headers: [header]).status == 200)
                // Past authentication, routing answers as before.
                #expect(try await http(port, "GET", "/no/such/path", headers: [header]).status == 404)
            }
        }
    }

    @Test func `tokens are compared whole, and never shown`() throws {
        let tokens = try BearerTokens(["abc", "longer-token"])
        #expect(tokens.accepts(Array("abc".utf8)) && tokens.accepts(Array("longer-token".utf8)))
        for wrong in ["", "ab", "abcd", "abcabc", "ABC", "longer-tokeN", "longer-token-"] {
            #expect(!tokens.accepts(Array(wrong.utf8)), "\(wrong)")
        }
        #expect(!BearerTokens.none.accepts(Array("abc".utf8)) && !BearerTokens.none.isEnabled)
        #expect(!"\(tokens)".contains("abc") && "\(tokens)".contains("2"))
        #expect(throws: BearerTokens.Invalid.self) { try BearerTokens(["good", "has space"]) }
        #expect(throws: BearerTokens.Invalid.self) { try BearerTokens([""]) }
    }
}
