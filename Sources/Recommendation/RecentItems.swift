import Serving
import Synchronization

/// The item keys of each user's recent events, newest last: the history `POST /v1/recommend`
/// encodes when the request sends none (`docs/DESIGN.md` §HTTP).
///
/// ```
/// record(events):   items[user] = (items[user] + the events' item keys, in request order).suffix(L)
/// bounds:           L keys per user; at most `maxUsers` users, the earliest-arrived user dropped first
/// ```
/// Fed by the accepted events of `POST /v1/events` only: in memory, not in the event log or the
/// snapshot, so a restarted server knows no history until new events arrive (a request can
/// always send its own `history`). Thread-safe (one mutex).
public final class RecentItems: Sendable {
    struct State {
        var items: [String: [String]] = [:]
        /// Users in order of arrival from `head` on (FIFO eviction).
        var arrival: [String] = []
        var head = 0
    }

    /// `L`, keys kept per user.
    public let perUser: Int
    /// Users kept.
    public let maxUsers: Int
    private let state = Mutex(State())

    public init(perUser: Int, maxUsers: Int = 100_000) {
        precondition(perUser >= 1 && maxUsers >= 1, "RecentItems: perUser \(perUser), maxUsers \(maxUsers)")
        (self.perUser, self.maxUsers) = (perUser, maxUsers)
    }

    /// A user's recent item keys, oldest first (empty for an unknown user).
    public func history(of user: String) -> [String] { state.withLock { $0.items[user] ?? [] } }

    /// Users known.
    public var count: Int { state.withLock { $0.items.count } }

    /// Appends each event's item key (`itemFeature`, a string or an integer) to its user's
    /// history; the user is `user`, else `taskKey`. Events without either, or with an item
    /// `isKnown` refuses (not in the index: it could never be recalled or encoded), are skipped.
    public func record(_ events: EventsRequest, itemFeature: String, taskKey: String, isKnown: (String) -> Bool = { _ in true }) {
        state.withLock { s in
            for event in events.events {
                guard let user = Self.text(event["user"] ?? event[taskKey]), let item = Self.text(event[itemFeature]),
                      isKnown(item) else { continue }
                if s.items[user] == nil {
                    if s.items.count >= maxUsers { Self.evictOldest(&s) }
                    s.arrival.append(user)
                    s.items[user] = []
                }
                s.items[user]!.append(item)
                if s.items[user]!.count > perUser { s.items[user]!.removeFirst(s.items[user]!.count - perUser) }
            }
        }
    }

    private static func evictOldest(_ s: inout State) {
        while s.head < s.arrival.count {
            let user = s.arrival[s.head]
            s.head += 1
            if s.items.removeValue(forKey: user) != nil { break }
        }
        if s.head > 1024 && s.head * 2 > s.arrival.count {
            s.arrival.removeFirst(s.head)
            s.head = 0
        }
    }

    static func text(_ value: FeatureValue?) -> String? {
        switch value {
        case .string(let s)? where !s.isEmpty: s
        case .integer(let n)?: String(n)
        default: nil
        }
    }
}
