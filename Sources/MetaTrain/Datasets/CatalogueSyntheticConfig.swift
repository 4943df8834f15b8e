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
    /// `T`: a user's last `T` clicks are the test targets and the `T` before them the validation
    /// targets (the retrieval side's `NextItemSplit(targets: T)`); the ranker's rows are split at
    /// the same clicks (``CatalogueSyntheticDataset``).
    public let heldOutClicks: Int
    /// How the ranker rows of a user with fewer than `2T + 2` clicks (no retrieval case) are
    /// divided into train / validation / test.
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
    /// Work bound of a log: users × steps × items (each step's organic choice is a softmax over the
    /// catalogue), 100× the defaults' (about a second).
    public static let maxWork = 12_000_000_000

    public init(users: Int = 2000, items: Int = 2000, genres: Int = 20, meanSteps: Int = 30, impressionsPerStep: Int = 4,
                heldOutClicks: Int = 5, seed: UInt64 = 1, split: ChronologicalSplit = .standard) throws {
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
        guard users * meanSteps * items <= Self.maxWork else {
            throw DatasetError.invalidOption(name: "items", reason: "users × steps × items must be at most \(Self.maxWork) "
                                             + "(each step draws from a softmax over the catalogue), got \(users * meanSteps * items)")
        }
        guard (1...1000).contains(heldOutClicks) else {
            throw DatasetError.invalidOption(name: "held-out-clicks", reason: "must be in 1...1000, got \(heldOutClicks)")
        }
        (self.users, self.items, self.genres, self.meanSteps, self.impressionsPerStep) = (users, items, genres, meanSteps, impressionsPerStep)
        (self.heldOutClicks, self.seed, self.split) = (heldOutClicks, seed, split)
    }
}
