import Foundation
import Serving
import Testing

@Suite struct JSONReaderTests {
    @Test(arguments: [
        #"{"user": "42", "candidates": [{"item_id": "7", "price": 9.5, "popularity": null}], "context": {"category": "3"}, "finetune": true, "steps": 2, "learning_rate": 0.1}"#,
        #"{"user": 42, "candidates": []}"#,
        #"  {"candidates": [{"item_id": 12345678901234, "price": -1.5e-3, "category": "a\"b\\c\u00e9\ud83d\ude00"}], "user": "x"}  "#,
        #"{"user": "1", "candidates": [{"item_id": "1"}, {"item_id": "2", "price": 0}], "context": null}"#,
    ])
    func `the hand-written reader decodes what JSONDecoder decodes`(json: String) throws {
        let fast = try RequestDecoding.scoreRequest(from: Data(json.utf8))
        var reference = try RequestDecoding.scoreRequestWithFoundation(from: Data(json.utf8))
        // The reader builds columns; Foundation the rows they come from.
        #expect(fast.candidates.isEmpty)
        reference.columns = try CandidateColumns(rows: reference.candidates)
        reference.candidates = []
        #expect(fast == reference)
    }

    @Test(arguments: [
        (#"{"user": "1", "candidates": [{"price": 1,}]}"#, "malformed_json"),
        (#"{"user": "1", "candidates": [{"price": 1}]} x"#, "malformed_json"),
        (#"{"user": "1", "candidates": [{"price": 01.}]}"#, "malformed_json"),
        (#"{"user": "1", "candidates": [{"price": {"a": 1}}]}"#, "wrong_type"),
        (#"{"user": "1", "candidates": [[1]]}"#, "wrong_type"),
        (#"{"user": "1", "candidates": [], "extra": 1}"#, "invalid_value"),
        (#"["#, "malformed_json"),
        ("", "malformed_json"),
    ])
    func `malformed bodies are errors, never traps`(json: String, code: String) {
        do throws(ServingError) {
            _ = try RequestDecoding.scoreRequest(from: Data(json.utf8))
            Issue.record("decoded \(json)")
        } catch {
            #expect(error.code == code, "\(json): \(error)")
        }
    }

    @Test(arguments: [
        (#"{"user": "1", "user": "2", "candidates": []}"#, "user"),
        (#"{"user": "1", "candidates": [], "finetune": true, "finetune": null}"#, "finetune"),
        (#"{"user": "1", "candidates": [{"item_id": "1"}, {"item_id": "2", "price": 1, "item_id": "3"}]}"#, "candidates[1].item_id"),
        (#"{"user": "1", "candidates": {"item_id": ["1"], "item_id": ["2"]}}"#, "candidates.item_id"),
        (#"{"user": "1", "candidates": [], "context": {"category": "a", "category": "b"}}"#, "context.category"),
        // An escaped key is the same key.
        (#"{"user": "1", "candidates": [{"price": 1, "pric\u0065": 2}]}"#, "candidates[0].price"),
    ])
    func `a key sent twice in one object is refused naming it`(json: String, field: String) {
        #expect(throws: ServingError.duplicateKey(field: field)) { try RequestDecoding.scoreRequest(from: Data(json.utf8)) }
    }

    @Test func `a key sent twice in an event or the events object is refused naming it`() throws {
        let twiceInEvent = #"{"events": [{"user": "1", "task0": 1}, {"user": "1", "task0": 1, "user": "2"}]}"#
        #expect(throws: ServingError.duplicateKey(field: "events[1].user")) { try RequestDecoding.eventsRequest(from: Data(twiceInEvent.utf8)) }
        let twiceEvents = #"{"events": [], "events": [{"user": "1", "task0": 1}]}"#
        #expect(throws: ServingError.duplicateKey(field: "events")) { try RequestDecoding.eventsRequest(from: Data(twiceEvents.utf8)) }
        // The same key in different objects is fine.
        let ok = #"{"events": [{"user": "1", "task0": 1}, {"user": "2", "task0": 0}]}"#
        #expect(try RequestDecoding.eventsRequest(from: Data(ok.utf8)).events.count == 2)
    }

    @Test func `truncations of a valid body never trap`() {
        let json = #"{"user": "42", "candidates": [{"item_id": "7", "price": 9.5, "tags": ["a", "b"]}], "context": {"category": "3"}}"#
        let bytes = Array(json.utf8)
        for n in 0..<bytes.count {
            #expect(throws: ServingError.self) { try RequestDecoding.scoreRequest(from: Data(bytes[0..<n])) }
        }
    }
}
