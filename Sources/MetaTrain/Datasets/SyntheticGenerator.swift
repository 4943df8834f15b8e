#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// The synthetic two-task generator of Ma et al., KDD 2018 (MMoE), §4.1, extended with users
/// whose private weight perturbations make per-user adaptation worthwhile.
///
/// Shared structure (drawn once from the seed):
/// ```
/// u₁, u₂ ∈ ℝᵈ orthogonal unit vectors (Gram–Schmidt on two Gaussian vectors)
/// w₁ = c·u₁,   w₂ = c·(p·u₁ + √(1−p²)·u₂)          ⇒ cos(w₁, w₂) = p,  ‖w_k‖ = c = √d
/// αᵢ, βᵢ ~ N(0, 1), i = 1…m (m = 10), shared by both tasks
/// ```
/// Per user `u` (latent aᵤ, bᵤ ~ N(0, I_d)), per-task perturbations correlated like the tasks:
/// ```
/// w₁ᵤ = w₁ + σ·aᵤ
/// w₂ᵤ = w₂ + σ·(p·aᵤ + √(1−p²)·bᵤ)               ⇒ each perturbation ~ N(0, σ²I_d),
///                                                   E[w₁ᵤ·w₂ᵤ] / E‖w_kᵤ‖² = p
/// ```
/// Per row, x ~ N(0, I_d) (rounded to 4 decimals, as written) and
/// ```
/// s_k = w_kᵤᵀx,   y_k = s_k + Σᵢ sin(αᵢ·s_k + βᵢ) + ε,   ε ~ N(0, 0.1²)
/// binary label_k = 1[y_k > t_k],   t_k = median of y_k over 20,000 pilot rows (fresh users)
/// ```
/// **Scale.** The paper uses c = 1. Here c = √d, so that ‖σ·aᵤ‖ ≈ σ√d = σ·‖w_k‖: `σ` reads as
/// the size of a user's deviation relative to the shared weights (σ = 0.5 → about half), and the
/// linear part s_k (sd ≈ √(d(1+σ²))) dominates the bounded sinusoids, so labels are informative
/// (Bayes accuracy near 1) while the sinusoids keep the response non-linear.
/// With c = 1 and d = 16, σ = 0.5 would make every user's perturbation twice the shared signal.
public struct SyntheticGenerator: Sendable {
    /// The validated settings.
    public let config: SyntheticConfig
    /// `c`, the norm of each shared task weight vector (√d).
    public let scale: Double
    /// Shared task weights `w₁, w₂`, each of length `d`.
    public let taskWeights: [[Double]]
    /// Sinusoid frequencies `αᵢ` (m).
    public let alpha: [Double]
    /// Sinusoid phases `βᵢ` (m).
    public let beta: [Double]
    /// Binary thresholds `t_k` (pilot medians of `y_k`), one per task.
    public private(set) var thresholds: [Double] = []

    /// Draws the shared structure and the binary thresholds from `config.seed`.
    public init(_ config: SyntheticConfig) {
        self.config = config
        let d = config.features
        let p = config.correlation
        let c = Double(d).squareRoot()
        scale = c
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .shared))
        let g1 = (0..<d).map { _ in rng.normal() }
        let g2 = (0..<d).map { _ in rng.normal() }
        let u1 = SyntheticGenerator.normalized(g1)
        let along = SyntheticGenerator.dot(g2, u1)
        let u2 = SyntheticGenerator.normalized(zip(g2, u1).map { $0 - along * $1 })
        let q = (1 - p * p).squareRoot()
        taskWeights = [u1.map { c * $0 }, zip(u1, u2).map { c * (p * $0 + q * $1) }]
        alpha = (0..<SyntheticConfig.sinusoids).map { _ in rng.normal() }
        beta = (0..<SyntheticConfig.sinusoids).map { _ in rng.normal() }
        thresholds = pilotMedians(count: 20_000)
    }

    /// Both tasks' weights `(w₁ᵤ, w₂ᵤ)` for user `user` (0-based), deterministic in (seed, user).
    public func userWeights(user: Int) -> [[Double]] {
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .user) ^ HashSplit.mix(UInt64(user)))
        return perturbedWeights(using: &rng)
    }

    /// The noiseless response `s + Σᵢ sin(αᵢ s + βᵢ)` with `s = weightsᵀx`.
    public func response(weights: [Double], input x: [Double]) -> Double {
        precondition(weights.count == x.count, "response: \(weights.count) weights for \(x.count) inputs")
        let s = SyntheticGenerator.dot(weights, x)
        var y = s
        for i in 0..<alpha.count { y += sin(alpha[i] * s + beta[i]) }
        return y
    }

    /// Cosine similarity of two vectors.
    public static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        dot(a, b) / (dot(a, a) * dot(b, b)).squareRoot()
    }

    func perturbedWeights(using rng: inout SeededRandom) -> [[Double]] {
        let d = config.features
        let p = config.correlation
        let q = (1 - p * p).squareRoot()
        let sigma = config.userPerturbation
        var w1 = taskWeights[0]
        var w2 = taskWeights[1]
        for j in 0..<d {
            let a = rng.normal()
            let b = rng.normal()
            w1[j] += sigma * a
            w2[j] += sigma * (p * a + q * b)
        }
        return [w1, w2]
    }

    /// One input row: N(0, 1) values rounded as they are written to the CSV.
    func input(using rng: inout SeededRandom, into x: inout [Double]) {
        for j in 0..<x.count {
            x[j] = CSVWriter.roundedForOutput(rng.normal(), decimals: SyntheticConfig.decimals)
        }
    }

    private func pilotMedians(count: Int) -> [Double] {
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .pilot))
        var x = [Double](repeating: 0, count: config.features)
        var samples: [[Double]] = [[], []]
        for _ in 0..<count {
            let weights = perturbedWeights(using: &rng)
            input(using: &rng, into: &x)
            for k in 0..<2 {
                samples[k].append(response(weights: weights[k], input: x) + SyntheticConfig.noiseStandardDeviation * rng.normal())
            }
        }
        return samples.map { column in
            let sorted = column.sorted()
            return 0.5 * (sorted[(count - 1) / 2] + sorted[count / 2])
        }
    }

    /// Independent random streams derived from one seed, so that e.g. changing `rows` leaves
    /// the task weights unchanged.
    enum Stream: UInt64 { case shared = 1, user, activity, rows, pilot }

    static func streamSeed(_ seed: UInt64, _ stream: Stream) -> UInt64 {
        HashSplit.mix(seed ^ HashSplit.mix(0x5EED_0000 + stream.rawValue))
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += a[i] * b[i] }
        return s
    }

    static func normalized(_ v: [Double]) -> [Double] {
        let norm = dot(v, v).squareRoot()
        return v.map { $0 / norm }
    }
}

extension SeededRandom {
    /// Standard normal sample in Double precision (Box–Muller, one value per call).
    mutating func normal() -> Double {
        var u1 = nextDouble()
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
