import Foundation
import MetaRecServer
import Serving
import Testing

/// The smaller checks on a request (issue 21, item 6): chunk framing, `Content-Type`,
/// duplicate keys, event times; each a 4xx with a JSON error naming what was wrong.
@Suite(.serialized) struct RequestChecksTests {
    static func error(_ reply: LoopbackHTTP.Reply) -> [String: Any] {
        reply.json?["error"] as? [String: Any] ?? [:]
    }

    @Test func `a malformed chunked body is 400 malformed_body, not 413`() async throws {
        try await withServer(try Fixtures.model()) { _, port in
            let connection = try RawConnection(port: port)
            let head = "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            #expect(connection.send(head + "5\r\n{\"use\r\nZZ-not-a-size\r\n0\r\n\r\n"))
            let reply = try await offPool { try connection.readReply(timeout: .seconds(10)) }
            #expect(reply.status == 400, "\(reply.status) \(reply.text)")
            #expect(Self.error(reply)["code"] as? String == "malformed_body", "\(reply.text)")
            // A well-formed chunked body still works.
            let good = try RawConnection(port: port)
            let body = #"{"user": "1", "candidates": [{"item_id": "1"}]}"#
            let chunked = String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
            #expect(good.send(head + chunked))
            #expect(try await offPool { try good.readReply(timeout: .seconds(10)) }.status == 200)
        }
    }

    @Test func `a body declared as anything but JSON is 415; JSON with parameters, or undeclared, is read`() async throws {
        try await withServer(try Fixtures.model()) { _, port in
            let score = #"{"user": "1", "candidates": [{"item_id": "1"}]}"#
            for type in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json; charset=latin-1", ""] {
                for path in ["/v1/score", "/v1/events"] {
                    let reply = try await http(port, "POST", path, score, contentType: type)
                    #expect(reply.status == 415, "\(type) on \(path): \(reply.status)")
                    #expect(Self.error(reply)["code"] as? String == "unsupported_media_type")
                    #expect((Self.error(reply)["message"] as? String)?.contains("application/json") == true)
                }
            }
            for type in ["application/json", "Application/JSON", "application/json; charset=utf-8", #"application/json;charset="UTF-8""#, nil] {
                #expect(try await http(port, "POST", "/v1/score", score, contentType: type).status == 200, "\(type ?? "no Content-Type")")
            }
        }
    }

    @Test func `duplicate JSON keys are 400 duplicate_key naming the key`() async throws {
        try await withServer(try Fixtures.model()) { _, port in
            let cases: [(String, String, String)] = [
                ("/v1/score", #"{"user": "1", "candidates": [{"item_id": "1", "item_id": "2"}]}"#, "candidates[0].item_id"),
                ("/v1/score", #"{"user": "1", "user": "2", "candidates": []}"#, "user"),
                ("/v1/events", #"{"events": [{"user": "1", "task0": 1, "task0": 0, "timestamp": 1700000000}]}"#, "events[0].task0"),
            ]
            for (path, body, field) in cases {
                let reply = try await http(port, "POST", path, body)
                #expect(reply.status == 400, "\(body)")
                #expect(Self.error(reply)["code"] as? String == "duplicate_key", "\(reply.text)")
                #expect(Self.error(reply)["field"] as? String == field)
            }
        }
    }

    @Test func `events without a time, or at an absurd one, are 400 naming the event and field; none is appended`() async throws {
        let model = try Fixtures.model()
        try await withServer(model) { _, port in
            let now = Int(Date().timeIntervalSince1970)
            let good = #"{"user": "t", "item_id": "1", "task0": 1, "timestamp": 1700000000}"#
            let cases: [(String, Int, String, String)] = [
                (#"{"user": "t", "item_id": "2", "task0": 1}"#, 400, "missing_field", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": -5}"#, 400, "invalid_value", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": 0}"#, 400, "invalid_value", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": 946684799}"#, 400, "invalid_value", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": \#(now + 2 * 86_400)}"#, 400, "invalid_value", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": 1700000000000}"#, 400, "invalid_value", "events[1].timestamp"),  // milliseconds
                (#"{"user": "t", "task0": 1, "timestamp": 1e300}"#, 400, "invalid_value", "events[1].timestamp"),
                (#"{"user": "t", "task0": 1, "timestamp": 1e999}"#, 400, "malformed_json", "events[1].timestamp"),
            ]
            for (bad, status, code, field) in cases {
                let reply = try await http(port, "POST", "/v1/events", #"{"events": [\#(good), \#(bad)]}"#)
                #expect(reply.status == status, "\(bad): \(reply.text)")
                #expect(Self.error(reply)["code"] as? String == code, "\(bad): \(reply.text)")
                #expect(Self.error(reply)["field"] as? String == field, "\(bad): \(reply.text)")
            }
            #expect(model.support.count == 0)
            // Within the bounds: 2000-01-01 itself, and a little ahead of the clock (client skew).
            let edges = #"{"events": [{"user": "t", "task0": 1, "timestamp": 946684800}, {"user": "t", "task0": 0, "timestamp": \#(now + 3600)}]}"#
            #expect(try await http(port, "POST", "/v1/events", edges).status == 200)
        }
    }
}
