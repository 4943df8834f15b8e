/// The settings of a DP-FedAvg simulation (docs/DESIGN.md §Federated;
/// McMahan et al. 2018, "Learning Differentially Private Recurrent Language Models").
public struct FederatedSettings: Sendable, Equatable {
    /// Where the Gaussian noise is added.
    public enum Noise: String, Sendable, Equatable, CaseIterable {
        /// The server adds `N(0, σ²S²)` to the sum of clipped updates (central DP): the
        /// Poisson-subsampled Gaussian mechanism, accounted with amplification by sampling.
        case central
        /// Every client adds `N(0, σ²S²)` to its own clipped update before upload (local DP, the
        /// stricter option): each upload is a Gaussian mechanism on its own, composed over that
        /// client's participations (at most ``maxParticipations``). Its neighbours are any two
        /// datasets of that client, whose clipped updates differ by up to `2S`: it is accounted
        /// at ``accountedNoiseMultiplier`` `= σ/2`.
        case local
    }

    /// Rounds to run (fewer when ``epsilonBudget`` is reached first).
    public var rounds: Int
    /// `q`: each client takes part in a round with this probability (Poisson sampling).
    public var samplingRate: Double
    /// Local SGD steps per participating client (the same inner loop as training and serving).
    public var localSteps: Int
    public var localLearningRate: Float
    /// `S`: an update's L2 norm (over all towers) is clipped to this.
    public var clipNorm: Double
    /// `σ`: noise standard deviation ÷ `S`; 0 = no noise (ε = ∞).
    public var noiseMultiplier: Double
    public var noise: Noise
    /// `η`: the server's step along the averaged update.
    public var serverLearningRate: Float
    /// Most rounds one client may take part in (upload limits); nil = unlimited.
    public var maxParticipations: Int?
    /// `δ` of the reported (ε, δ).
    public var delta: Double
    /// Stop before a round that would take ε above this; nil = run every round.
    public var epsilonBudget: Double?
    public var seed: UInt64

    public init(rounds: Int, samplingRate: Double, localSteps: Int = 5, localLearningRate: Float = 0.05,
                clipNorm: Double = 1, noiseMultiplier: Double = 1, noise: Noise = .central, serverLearningRate: Float = 1,
                maxParticipations: Int? = nil, delta: Double = 1e-5, epsilonBudget: Double? = nil, seed: UInt64 = 1) {
        self.rounds = rounds
        self.samplingRate = samplingRate
        self.localSteps = localSteps
        self.localLearningRate = localLearningRate
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.noise = noise
        self.serverLearningRate = serverLearningRate
        self.maxParticipations = maxParticipations
        self.delta = delta
        self.epsilonBudget = epsilonBudget
        self.seed = seed
    }

    /// Every field in range, or an error naming the field (the CLI flag has the same name).
    public func validate() throws(FederatedError) {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws(FederatedError) {
            if !ok { throw .invalidSetting(field: field, reason: reason) }
        }
        try check(rounds >= 1 && rounds <= 1_000_000, "rounds", "must be in 1...1000000, got \(rounds)")
        try check(samplingRate > 0 && samplingRate <= 1, "client-rate", "must be in (0, 1], got \(samplingRate)")
        try check(localSteps >= 1 && localSteps <= 100, "local-steps", "must be in 1...100, got \(localSteps)")
        try check(localLearningRate > 0 && localLearningRate.isFinite, "local-learning-rate", "must be > 0, got \(localLearningRate)")
        try check(clipNorm > 0 && clipNorm.isFinite, "clip-norm", "must be > 0, got \(clipNorm)")
        try check(noiseMultiplier >= 0 && noiseMultiplier.isFinite, "noise-multiplier", "must be ≥ 0, got \(noiseMultiplier)")
        try check(serverLearningRate > 0 && serverLearningRate.isFinite, "server-learning-rate", "must be > 0, got \(serverLearningRate)")
        try check(maxParticipations.map { $0 >= 1 } ?? true, "max-participations", "must be ≥ 1")
        try check(delta > 0 && delta < 1, "delta", "must be in (0, 1), got \(delta)")
        try check(epsilonBudget.map { $0 > 0 } ?? true, "epsilon-budget", "must be > 0")
        try check(noise == .central || maxParticipations != nil || noiseMultiplier == 0, "max-participations",
                  "local noise needs a participation cap: a client's ε grows with every upload")
    }

    /// The noise multiplier the accountant sees: `σ` under central noise (neighbours: one client's
    /// data added or removed, sensitivity `S`), `σ/2` under local noise (neighbours: any two
    /// datasets of one client, sensitivity `2S`).
    public var accountedNoiseMultiplier: Double { noise == .local ? noiseMultiplier / 2 : noiseMultiplier }
}

/// Why a federated run cannot start.
public enum FederatedError: Error, Equatable, CustomStringConvertible {
    case invalidSetting(field: String, reason: String)
    case noClients
    /// A checkpoint that does not belong to this run (other data, settings or towers).
    case checkpointMismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSetting(field, reason): "--\(field): \(reason)"
        case .noClients: "no client has a labelled row: nothing to train on"
        case let .checkpointMismatch(path, reason): "\(path): \(reason); run without --resume to start over"
        }
    }
}
