/// Training observations `(user, item, rating)` with dense indices, what the baselines fit.
///
/// Users and items get indices `0 ..< users`, `0 ..< items` in order of first appearance.
/// `U` users, `I` items, `N` observations.
public struct RatingMatrix: Sendable {
    /// One observation.
    public struct Entry: Sendable, Equatable {
        public var user: Int32
        public var item: Int32
        public var rating: Double
    }

    /// Item ids by index.
    public private(set) var itemIDs: [String] = []
    /// Index of each item id.
    public private(set) var itemIndex: [String: Int] = [:]
    /// Index of each user id.
    public private(set) var userIndex: [String: Int] = [:]
    /// The `N` observations, in insertion order.
    public private(set) var entries: [Entry] = []

    public init() {}

    /// Users `U`.
    public var userCount: Int { userIndex.count }
    /// Items `I`.
    public var itemCount: Int { itemIDs.count }

    /// Adds one observation (a repeated `(user, item)` pair is kept as a second observation).
    public mutating func add(user: String, item: String, rating: Double) {
        precondition(rating.isFinite, "RatingMatrix: non-finite rating \(rating) for user \(user), item \(item)")
        let u: Int
        if let known = userIndex[user] {
            u = known
        } else {
            u = userIndex.count
            userIndex[user] = u
        }
        entries.append(Entry(user: Int32(u), item: Int32(index(ofItem: item, adding: true)!), rating: rating))
    }

    /// The index of `item`, `nil` for an item never seen in training (`adding` creates it).
    mutating func index(ofItem item: String, adding: Bool) -> Int? {
        if let i = itemIndex[item] { return i }
        guard adding else { return nil }
        itemIndex[item] = itemIDs.count
        itemIDs.append(item)
        return itemIDs.count - 1
    }

    /// Mean rating μ over all observations (0 when there are none).
    public var globalMean: Double {
        entries.isEmpty ? 0 : entries.reduce(0) { $0 + $1.rating } / Double(entries.count)
    }

    /// Observation indices grouped by user (`byUser[u]`) and by item (`byItem[i]`).
    func grouped() -> (byUser: [[Int]], byItem: [[Int]]) {
        var byUser = [[Int]](repeating: [], count: userCount)
        var byItem = [[Int]](repeating: [], count: itemCount)
        for (n, e) in entries.enumerated() {
            byUser[Int(e.user)].append(n)
            byItem[Int(e.item)].append(n)
        }
        return (byUser, byItem)
    }
}

/// A held-out user's ratings as the baselines see them: the support set (item, rating) and the
/// query items to score.
public struct HeldOutRatings: Sendable, Equatable {
    /// Support items and their ratings.
    public var support: [(item: String, rating: Double)]
    /// Query items, in the order scores are returned.
    public var query: [String]

    public init(support: [(item: String, rating: Double)], query: [String]) {
        self.support = support
        self.query = query
    }

    public static func == (a: HeldOutRatings, b: HeldOutRatings) -> Bool {
        a.query == b.query && a.support.elementsEqual(b.support) { $0.item == $1.item && $0.rating == $1.rating }
    }
}
