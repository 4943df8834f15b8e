import Foundation
import ModelDescription
import ModelMath
import Serving
import Testing

@Suite struct ValidationTests {
    let model: ServingModel
    let predictor: Predictor

    init() throws {
        model = try Fixtures.model()
        predictor = Fixtures.predictor(model, maxCandidates: 10)
    }

    func score(json: String) throws(ServingError) -> ScoreResult {
        try predictor.score(RequestDecoding.scoreRequest(from: Data(json.utf8)))
    }

    func error(_ json: String) -> ServingError? {
        do throws(ServingError) {
            _ = try score(json: json)
            return nil
        } catch {
            return error
        }
    }

    @Test func `a well-formed request decodes and scores`() throws {
        let result = try score(json: #"{"user": 5, "candidates": [{"item_id": "3", "price": 1.5}, {"item_id": 4, "popularity": null}], "context": {"category": "2"}}"#)
        #expect(result.candidateCount == 2)
    }

    @Test func `malformed JSON is rejected`() {
        #expect(error(#"{"user": "1", "candidates": [{"item_id": "3"}"#)?.code == "malformed_json")
        #expect(error("not json")?.code == "malformed_json")
    }

    @Test func `a missing user is named`() {
        #expect(error(#"{"candidates": []}"#) == .missingField(field: "user"))
        #expect(error(#"{"user": "", "candidates": []}"#) == .missingField(field: "user"))
        #expect(error(#"{"user": "1"}"#) == .missingField(field: "candidates"))
    }

    @Test func `an unknown feature is named with its candidate`() {
        #expect(error(#"{"user": "1", "candidates": [{"item_id": "3"}, {"colour": "red"}]}"#)
            == .unknownFeature(field: "candidates[1].colour"))
        #expect(error(#"{"user": "1", "candidates": [], "context": {"weather": 1}}"#) == .unknownFeature(field: "context.weather"))
        // Labels are not candidate inputs.
        #expect(error(#"{"user": "1", "candidates": [{"task0": 1}]}"#) == .unknownFeature(field: "candidates[0].task0"))
    }

    @Test func `a value of the wrong type is named`() {
        #expect(error(#"{"user": "1", "candidates": [{"price": "cheap"}]}"#)?.field == "candidates[0].price")
        #expect(error(#"{"user": "1", "candidates": [{"price": "cheap"}]}"#)?.code == "wrong_type")
        #expect(error(#"{"user": "1", "candidates": [{"item_id": [1, 2]}]}"#)?.field == "candidates[0].item_id")
        #expect(error(#"{"user": "1", "candidates": [{"item_id": 1.5}]}"#)?.field == "candidates[0].item_id")
        #expect(error(#"{"user": {"id": 1}, "candidates": []}"#)?.field == "user")
        #expect(error(#"{"user": "1", "candidates": {"item_id": 1}}"#)?.field == "candidates.item_id")  // the column form takes arrays
        #expect(error(#"{"user": "1", "candidates": 3}"#)?.field == "candidates")
        #expect(error(#"{"user": "1", "candidates": [], "finetune": "yes"}"#)?.field == "finetune")
    }

    @Test func `too many candidates is a 400 naming candidates`() {
        let candidates = Array(repeating: #"{"item_id": "1"}"#, count: 11).joined(separator: ",")
        let e = error(#"{"user": "1", "candidates": [\#(candidates)]}"#)
        #expect(e == .tooManyCandidates(count: 11, limit: 10))
        #expect(e?.field == "candidates" && e?.httpStatus == 400)
    }

    @Test func `out-of-range overrides are rejected`() {
        #expect(error(#"{"user": "1", "candidates": [], "steps": -1}"#)?.field == "steps")
        #expect(error(#"{"user": "1", "candidates": [], "steps": 1000}"#)?.field == "steps")
        #expect(error(#"{"user": "1", "candidates": [], "learning_rate": -0.5}"#)?.field == "learning_rate")
    }

    @Test func `an events request with one bad event appends none`() throws {
        let good = #"{"user": "9", "item_id": "1", "task0": 1, "task1": 0, "timestamp": 1700000000}"#
        let cases: [(String, String)] = [
            (#"{"user": "9", "item_id": "2", "task0": 2}"#, "events[1].task0"),
            (#"{"user": "9", "item_id": "2", "colour": "red", "task0": 1}"#, "events[1].colour"),
            (#"{"item_id": "2", "task0": 1}"#, "events[1].user"),
            (#"{"user": "9", "item_id": "2"}"#, "events[1].task0|task1"),
            (#"{"user": "9", "price": "x", "task0": 1}"#, "events[1].price"),
            (#"{"user": "9", "task0": 1, "timestamp": "yesterday"}"#, "events[1].timestamp"),
        ]
        for (bad, field) in cases {
            let body = #"{"events": [\#(good), \#(bad), \#(good)]}"#
            #expect(throws: ServingError.self) { try predictor.record(events: RequestDecoding.eventsRequest(from: Data(body.utf8))) }
            do throws(ServingError) {
                try predictor.record(events: RequestDecoding.eventsRequest(from: Data(body.utf8)))
            } catch {
                #expect(error.field == field, "\(bad)")
            }
            #expect(model.support.count == 0, "\(bad) appended rows")
        }
        let ok = #"{"events": [\#(good), \#(good)]}"#
        #expect(try predictor.record(events: RequestDecoding.eventsRequest(from: Data(ok.utf8))) == 2)
        #expect(try score(json: #"{"user": "9", "candidates": [{"item_id": "1"}]}"#).supportRows == 2)
    }

    @Test func `numbers reach the encoder unchanged`() throws {
        // A numeric feature sent as 0.1 + 0.2 (17 significant digits) scores like the shortest form.
        let a = try score(json: #"{"user": "1", "candidates": [{"price": 0.30000000000000004}]}"#)
        let b = try score(json: #"{"user": "1", "candidates": [{"price": 0.3}]}"#)
        #expect(Fixtures.maxRelativeDifference(a.scores, b.scores) < 1e-6)
        let c = try score(json: #"{"user": "1", "candidates": [{"price": 12345.678e-3}]}"#)
        let d = try score(json: #"{"user": "1", "candidates": [{"price": 12.345678}]}"#)
        #expect(c.scores == d.scores)
    }
}
