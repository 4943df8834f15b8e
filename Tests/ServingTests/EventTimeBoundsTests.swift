import Foundation
import ParamServer
import Serving
import Testing

/// ``Predictor/checkTimes(of:within:)``: event times against the support store's clock.
@Suite struct EventTimeBoundsTests {
    static func events(_ times: [String]) throws -> EventsRequest {
        let rows = times.map { #"{"user": "u", "task0": 1\#($0.isEmpty ? "" : #", "timestamp": "# + $0)}"# }
        return try RequestDecoding.eventsRequest(from: Data(#"{"events": [\#(rows.joined(separator: ","))]}"#.utf8))
    }

    @Test func `times are checked against the store's clock, the earliest bound and the skew, naming the event`() throws {
        let clock = ManualClock(start: .seconds(1_000_000_000))  // 2001-09-09
        let predictor = Fixtures.predictor(try Fixtures.model(clock: clock))
        let bounds = EventTimeBounds.standard
        try predictor.checkTimes(of: try Self.events(["1000000000", "946684800", "1000086400", "999999999.5"]), within: bounds)
        let cases: [([String], ServingError)] = [
            (["1000000000", "1000086401"], .invalidValue(field: "events[1].timestamp", reason: "")),
            (["946684799"], .invalidValue(field: "events[0].timestamp", reason: "")),
            (["-1"], .invalidValue(field: "events[0].timestamp", reason: "")),
            (["1000000000", ""], .missingField(field: "events[1].timestamp")),
            // Type errors and other fields come in event order, as record(events:) reports them.
            (["1000000000", "\"soon\""], .wrongType(field: "events[1].timestamp", expected: "")),
        ]
        for (times, expected) in cases {
            let request = try Self.events(times)
            do throws(ServingError) {
                try predictor.checkTimes(of: request, within: bounds)
                Issue.record("accepted \(times)")
            } catch {
                #expect(error.code == expected.code && error.field == expected.field, "\(times): \(error)")
            }
        }
        // The clock moves: a time a day ahead becomes acceptable as it nears.
        clock.advance(by: .seconds(3600))
        try predictor.checkTimes(of: try Self.events(["1000086401"]), within: bounds)
        // record(events:) itself takes any time (offline evaluation replays history).
        #expect(try predictor.record(events: try Self.events(["1"])) == 1)
    }
}
