#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// The ground truth of the synthetic multi-scene log: skewed traffic, a shared component,
/// scene-private feature weights and a per-scene label shift (the cross-domain setting of
/// `docs/DESIGN.md` §Planned).
///
/// ```
/// π_s      = s^−a / Σ_{j=1..N} j^−a                 traffic share of scene s = 1 … N (Zipf)
/// U_s      = max(10, round(U · π_s))                 users of scene s (each user in one scene)
/// x ~ N(0, I_d)   shared features;   z ~ N(0, I_m)   scene features
/// logit_k  = w_k · x  +  α · v_{s,k} · z  +  b_{s,k}  +  c_u          task k ∈ {1, 2}
///   w_k      shared, |w_k| = 1, w_2 = ρ w_1 + √(1 − ρ²) w_⊥, ρ = 0.5
///   v_{s,k}  private to scene s, |v_{s,k}| = 1, independent across scenes and tasks
///   b_{s,k}  ~ N(β, σ_b²), β = −1                    label shift of scene s
///   c_u      ~ N(0, σ_u²)                            user offset (both tasks)
/// y_k ~ Bernoulli(sigmoid(logit_k))
/// ```
/// With the defaults (N = 10, a = 2) the two largest scenes (20 %) hold ≈ 81 % of the rows and
/// the six smallest each hold < 3 %. The best any model can do on a scene is the AUC of the
/// true probability, which ``SceneSyntheticDataset`` reports per scene (`scenes.csv`).
public struct SceneSyntheticGenerator: Sendable {
    public let config: SceneSyntheticConfig
    /// Traffic share `π_s` per scene `(N)`.
    public let shares: [Double]
    /// First user index of each scene `(N + 1)`: scene s owns users `userStart[s] ..< userStart[s + 1]`.
    public let userStart: [Int]
    /// Shared weights `w_k` `(2, d)`.
    public let sharedWeights: [[Double]]
    /// Scene weights `v_{s,k}` `(N, 2, m)`.
    public let sceneWeights: [[[Double]]]
    /// Label shifts `b_{s,k}` `(N, 2)`.
    public let biases: [[Double]]
    /// User offsets `c_u` `(U')`, `U'` = `userStart[N]`.
    public let userOffsets: [Double]

    /// Draws the ground truth from `config.seed`.
    public init(_ config: SceneSyntheticConfig) {
        self.config = config
        let n = config.scenes
        let raw = (1...n).map { pow(Double($0), -config.zipfExponent) }
        let total = raw.reduce(0, +)
        shares = raw.map { $0 / total }
        var start = [0]
        for s in 0..<n {
            let count = max(SceneSyntheticConfig.minimumUsersPerScene, Int((Double(config.users) * shares[s]).rounded()))
            start.append(start[s] + count)
        }
        userStart = start
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .shared))
        func unit(_ width: Int) -> [Double] { SyntheticGenerator.normalized((0..<width).map { _ in rng.normal() }) }
        let w1 = unit(config.sharedFeatures)
        let other = unit(config.sharedFeatures)
        // Gram–Schmidt: w⊥ orthogonal to w1, then w2 at cosine ρ from w1.
        let projection = SyntheticGenerator.dot(other, w1)
        let orthogonal = SyntheticGenerator.normalized(zip(other, w1).map { $0 - projection * $1 })
        let rho = SceneSyntheticConfig.taskCorrelation
        sharedWeights = [w1, zip(w1, orthogonal).map { rho * $0 + (1 - rho * rho).squareRoot() * $1 }]
        sceneWeights = (0..<n).map { _ in (0..<2).map { _ in unit(config.sceneFeatures) } }
        biases = (0..<n).map { _ in (0..<2).map { _ in SceneSyntheticConfig.baseLogit + config.biasSpread * rng.normal() } }
        var userRng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .user))
        userOffsets = (0..<start[n]).map { _ in config.userSpread * userRng.normal() }
    }

    /// The scene `s` (0-based) owning user `u`.
    public func scene(ofUser u: Int) -> Int {
        var s = 0
        while userStart[s + 1] <= u { s += 1 }
        return s
    }

    /// The true logit of task `k` for a row of scene `s`, user `u`, features `x (d)` and `z (m)`.
    public func logit(task k: Int, scene s: Int, user u: Int, x: [Double], z: [Double]) -> Double {
        SyntheticGenerator.dot(sharedWeights[k], x) + config.sceneStrength * SyntheticGenerator.dot(sceneWeights[s][k], z)
            + biases[s][k] + userOffsets[u]
    }

    /// The scene of one row drawn with probability `π_s` (inverse CDF of one uniform).
    public func drawScene(_ uniform: Double) -> Int {
        var cumulative = 0.0
        for s in 0..<shares.count {
            cumulative += shares[s]
            if uniform < cumulative { return s }
        }
        return shares.count - 1
    }
}
