/// Settings of the synthetic multi-scene generator (``SceneSyntheticGenerator``), validated.
public struct SceneSyntheticConfig: Sendable, Equatable {
    /// Scenes `N` (≥ 2).
    public var scenes: Int
    /// Zipf exponent `a` of the scenes' traffic (`π_s ∝ s^−a`, ≥ 0; 0 = uniform).
    public var zipfExponent: Double
    /// Users `U` (≥ `scenes`), partitioned among the scenes in proportion to their traffic.
    public var users: Int
    /// Rows (events) generated (≥ 1).
    public var rows: Int
    /// Shared numeric features `d` (`x0 …`), whose weights every scene shares.
    public var sharedFeatures: Int
    /// Scene numeric features `m` (`z0 …`), whose weights are private to each scene.
    public var sceneFeatures: Int
    /// Scale `α` of the scene-private term of the logit.
    public var sceneStrength: Double
    /// Standard deviation `σ_b` of the per-scene label shift.
    public var biasSpread: Double
    /// Standard deviation `σ_u` of the per-user offset.
    public var userSpread: Double
    /// Seed of every random stream.
    public var seed: UInt64

    /// Fewest users a scene gets, however small its traffic (so GAUC has users to average).
    public static let minimumUsersPerScene = 10
    /// Cosine similarity `ρ` of the two tasks' shared weights.
    public static let taskCorrelation = 0.5
    /// Mean `β` of the label shift (the logit of the typical positive rate, ≈ 27 %).
    public static let baseLogit = -1.0

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` for an out-of-range value.
    public init(scenes: Int = 10, zipfExponent: Double = 2, users: Int = 2000, rows: Int = 200_000,
                sharedFeatures: Int = 8, sceneFeatures: Int = 4, sceneStrength: Double = 1, biasSpread: Double = 1,
                userSpread: Double = 0.5, seed: UInt64 = 1) throws {
        func check(_ ok: Bool, _ name: String, _ reason: String) throws {
            if !ok { throw DatasetError.invalidOption(name: name, reason: reason) }
        }
        try check(scenes >= 2 && scenes <= 1000, "scenes", "must be in 2 … 1000, got \(scenes)")
        try check(zipfExponent >= 0 && zipfExponent <= 10, "zipf", "must be in [0, 10], got \(zipfExponent)")
        try check(users >= scenes && users <= 10_000_000, "users", "must be in scenes … 10^7, got \(users)")
        try check(rows >= 1 && rows <= 100_000_000, "rows", "must be in 1 … 10^8, got \(rows)")
        try check(sharedFeatures >= 1 && sharedFeatures <= 1000, "shared-features", "must be in 1 … 1000")
        try check(sceneFeatures >= 1 && sceneFeatures <= 1000, "scene-features", "must be in 1 … 1000")
        for (value, name) in [(sceneStrength, "scene-strength"), (biasSpread, "bias-spread"), (userSpread, "user-spread")] {
            try check(value.isFinite && value >= 0 && value <= 10, name, "must be in [0, 10], got \(value)")
        }
        (self.scenes, self.zipfExponent, self.users, self.rows) = (scenes, zipfExponent, users, rows)
        (self.sharedFeatures, self.sceneFeatures, self.sceneStrength) = (sharedFeatures, sceneFeatures, sceneStrength)
        (self.biasSpread, self.userSpread, self.seed) = (biasSpread, userSpread, seed)
    }
}
