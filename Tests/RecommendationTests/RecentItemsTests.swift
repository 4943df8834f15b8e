import Recommendation
import Serving
import Testing

/// The per-user item history that `/v1/recommend` reads when a request sends none.
@Suite struct RecentItemsTests {
    static func events(_ pairs: [(String, FeatureValue)]) -> EventsRequest {
        EventsRequest(events: pairs.map { ["user_id": .string($0.0), "item_id": $0.1, "task0": .integer(1)] })
    }

    @Test func `keeps the last L keys per user in request order, integers as digits, events without an item skipped`() {
        let recent = RecentItems(perUser: 3)
        recent.record(Self.events([("a", .string("1")), ("a", .integer(2)), ("b", .string("9"))]), itemFeature: "item_id", taskKey: "user_id")
        recent.record(EventsRequest(events: [["user": .string("a"), "item_id": .string("3")], ["user_id": .string("a")]]),
                      itemFeature: "item_id", taskKey: "user_id")
        recent.record(Self.events([("a", .string("4"))]), itemFeature: "item_id", taskKey: "user_id")
        #expect(recent.history(of: "a") == ["2", "3", "4"])
        #expect(recent.history(of: "b") == ["9"] && recent.history(of: "nobody") == [])
    }

    @Test func `beyond the user cap the earliest-arrived user is dropped`() {
        let recent = RecentItems(perUser: 2, maxUsers: 2)
        for user in ["a", "b", "c"] { recent.record(Self.events([(user, .string("1"))]), itemFeature: "item_id", taskKey: "user_id") }
        #expect(recent.count == 2 && recent.history(of: "a") == [] && recent.history(of: "c") == ["1"])
        recent.record(Self.events([("b", .string("2")), ("d", .string("3"))]), itemFeature: "item_id", taskKey: "user_id")
        #expect(recent.count == 2 && recent.history(of: "b") == [] && recent.history(of: "c") == ["1"] && recent.history(of: "d") == ["3"])
    }
}
