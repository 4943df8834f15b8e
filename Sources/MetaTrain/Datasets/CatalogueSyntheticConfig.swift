/// Settings of the synthetic catalogue log (``CatalogueSyntheticGenerator``): users browsing a
/// catalogue of items in genres, for the recall → rank → serve path (`metarec datasets
/// synthetic-catalogue`, `metarec demo`'s last step). Validated on creation.
public struct CatalogueSyntheticConfig: Sendable, Equatable {
    /// Users, each with a session of impressions.
    public let users: Int
    /// Catalogue size `N`.
    public let items: Int
    /// Genres `G` (item clusters; every item has one).
    public let genres: Int
    /// Mean steps of a user's session (the session length is log-normal around it, at least 4).
    public let meanSteps: Int
    /// Items shown per step: one from the user's current interest, the rest by popularity.
    public let impressionsPerStep: Int
    /// Seed of every random choice; the same config writes the same bytes.
    public let seed: UInt64
    /// How each user's ranker rows are divided into train / validation / test.
    public let split: ChronologicalSplit

    /// Width `r` of the latent item, genre and user vectors.
    public static let latentWidth = 8
    /// Spread of an item's latent vector around its genre's centroid.
    public static let itemSpread = 0.5
    /// Spread `η` of the log-normal item popularity: `b_i = η·N(0, 1)`.
    public static let popularitySpread = 1.0
    /// Sharpness `β` of the organic choice `∝ exp(β·a + b_i)`.
    public static let choiceSharpness = 3.0
    /// Interest drift after a click: `s ← (1 − ρ)·s + ρ·(p_u + q_j)/2`.
    public static let drift = 0.4

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` naming the first bad setting.
    public init(users: Int = 2000, items: Int = 2000, genres: Int = 20, meanSteps: Int = 30, impressionsPerStep: Int = 4,
                seed: UInt64 = 1, split: ChronologicalSplit = .standard) throws {
        guard (1...1_000_000).contains(users) else { throw DatasetError.invalidOption(name: "users", reason: "must be in 1...1000000, got \(users)") }
        guard (2...1_000_000).contains(items) else { throw DatasetError.invalidOption(name: "items", reason: "must be in 2...1000000, got \(items)") }
        guard (2...items).contains(genres) else {
            throw DatasetError.invalidOption(name: "genres", reason: "must be in 2...items (\(items)), got \(genres)")
        }
        guard (4...10_000).contains(meanSteps) else { throw DatasetError.invalidOption(name: "steps", reason: "must be in 4...10000, got \(meanSteps)") }
        guard (1...min(100, items)).contains(impressionsPerStep) else {
            throw DatasetError.invalidOption(name: "impressions", reason: "must be in 1...\(min(100, items)), got \(impressionsPerStep)")
        }
        guard users * meanSteps * impressionsPerStep <= 100_000_000 else {
            throw DatasetError.invalidOption(name: "users", reason: "users × steps × impressions must be at most 100,000,000 rows, "
                                             + "got \(users * meanSteps * impressionsPerStep)")
        }
        (self.users, self.items, self.genres, self.meanSteps, self.impressionsPerStep) = (users, items, genres, meanSteps, impressionsPerStep)
        (self.seed, self.split) = (seed, split)
    }
}
