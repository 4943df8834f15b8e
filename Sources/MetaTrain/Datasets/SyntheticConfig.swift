/// Settings of the synthetic two-task generator (``SyntheticGenerator``), validated on creation.
public struct SyntheticConfig: Sendable, Equatable {
    /// Size of the user population (users drawn zero times do not appear in the files).
    public let users: Int
    /// Rows (events) generated.
    public let rows: Int
    /// Cosine similarity `p` of the two tasks' shared weight vectors, in [−1, 1].
    public let correlation: Double
    /// Input width `d` (numeric columns `x0 … x{d−1}`), at least 2.
    public let features: Int
    /// Binary labels (`1[y_k > median]`) or the raw regression targets `y_k`.
    public let labelKind: DatasetConfig.LabelKind
    /// Per-coordinate standard deviation `σ` of each user's weight perturbation, ≥ 0.
    public let userPerturbation: Double
    /// Seed of every random choice; the same config writes the same bytes.
    public let seed: UInt64
    /// How each user's rows are divided into train / validation / test.
    public let split: ChronologicalSplit

    /// Number of sinusoids in each response (`m` in Ma et al. 2018, §4.1).
    public static let sinusoids = 10
    /// Standard deviation of the response noise ε (variance 0.01).
    public static let noiseStandardDeviation = 0.1
    /// Spread `η` of the log-normal user activity: activity_u = exp(η·N(0, 1)).
    public static let activitySpread = 1.5
    /// Decimal places of inputs and regression labels in the CSV.
    public static let decimals = 4

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` naming the first bad setting.
    public init(
        users: Int = 5000, rows: Int = 300_000, correlation: Double = 0.5, features: Int = 16,
        labelKind: DatasetConfig.LabelKind = .binary, userPerturbation: Double = 0.5, seed: UInt64 = 1,
        split: ChronologicalSplit = .standard
    ) throws {
        guard users >= 1 else { throw DatasetError.invalidOption(name: "users", reason: "must be ≥ 1, got \(users)") }
        guard rows >= 1 else { throw DatasetError.invalidOption(name: "rows", reason: "must be ≥ 1, got \(rows)") }
        guard correlation.isFinite, (-1...1).contains(correlation) else {
            throw DatasetError.invalidOption(name: "correlation", reason: "must be in [-1, 1], got \(correlation)")
        }
        guard (2...4096).contains(features) else {
            throw DatasetError.invalidOption(name: "features", reason: "must be in 2...4096, got \(features)")
        }
        guard userPerturbation.isFinite, userPerturbation >= 0 else {
            throw DatasetError.invalidOption(name: "user-perturbation", reason: "must be a finite value ≥ 0, got \(userPerturbation)")
        }
        self.users = users
        self.rows = rows
        self.correlation = correlation
        self.features = features
        self.labelKind = labelKind
        self.userPerturbation = userPerturbation
        self.seed = seed
        self.split = split
    }
}
