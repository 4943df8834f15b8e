#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rényi differential privacy of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar and
/// Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"): each record is
/// included with probability `q`, the sum of the included (clipped, sensitivity 1) contributions
/// gets `N(0, σ²)` noise. At order `α > 1`
///
/// ```
/// ε_RDP(α) = log A_α / (α − 1)
/// integer α:     A_α = Σ_{i=0}^{α} C(α, i) (1−q)^{α−i} q^i exp((i² − i) / 2σ²)
/// fractional α:  A_α = A₀ + A₁,  z₀ = σ² log(1/q − 1) + 1/2,  j = α − i,
///   A₀ = Σ_{i≥0} |C(α, i)| q^i (1−q)^j exp((i² − i)/2σ²) · ½ erfc((i − z₀)/(√2 σ))
///   A₁ = Σ_{i≥0} |C(α, i)| q^j (1−q)^i exp((j² − j)/2σ²) · ½ erfc((z₀ − j)/(√2 σ))
/// q = 1:  ε_RDP(α) = α / 2σ²;    q = 0: 0;    σ = 0: ∞
/// ```
/// Everything is summed in log space (`logAdd`), so large orders neither overflow nor lose the
/// small terms. The fractional series stops when both terms decrease and fall 30 nats below the
/// total (as in the paper's reference code); a series that has not converged after 1,000 terms
/// gives `∞`, which excludes that order from the conversion to (ε, δ).
public enum SampledGaussianRDP {
    /// `ε_RDP(α)` of one application; `q ∈ [0, 1]`, `σ ≥ 0`, `α > 1`.
    public static func rdp(samplingRate q: Double, noiseMultiplier sigma: Double, order alpha: Double) -> Double {
        precondition((0...1).contains(q), "SampledGaussianRDP: sampling rate \(q) is not in [0, 1]")
        precondition(sigma >= 0, "SampledGaussianRDP: noise multiplier \(sigma) is negative")
        precondition(alpha > 1, "SampledGaussianRDP: order \(alpha) must be > 1")
        if q == 0 { return 0 }
        if sigma == 0 || alpha.isInfinite { return .infinity }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        let logA = alpha.rounded() == alpha ? logAInteger(q: q, sigma: sigma, alpha: Int(alpha))
                                           : logAFractional(q: q, sigma: sigma, alpha: alpha)
        return logA / (alpha - 1)
    }

    static func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        var logA = -Double.infinity
        let logQ = log(q), log1mQ = log1p(-q)
        for i in 0...alpha {
            let term = logBinomial(Double(alpha), Double(i)) + Double(i) * logQ + Double(alpha - i) * log1mQ
                + Double(i * i - i) / (2 * sigma * sigma)
            logA = logAdd(logA, term)
        }
        return logA
    }

    static let maximumFractionalTerms = 1000

    static func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        var (logA0, logA1) = (-Double.infinity, -Double.infinity)
        var (lastS0, lastS1) = (-Double.infinity, -Double.infinity)
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        let logQ = log(q), log1mQ = log1p(-q), twoSigmaSquared = 2 * sigma * sigma
        for n in 0..<maximumFractionalTerms {
            let i = Double(n), j = alpha - i
            let coefficient = logBinomial(alpha, i)
            let s0 = coefficient + i * logQ + j * log1mQ + (i * i - i) / twoSigmaSquared
                + log(0.5) + logErfc((i - z0) / (2.0.squareRoot() * sigma))
            let s1 = coefficient + j * logQ + i * log1mQ + (j * j - j) / twoSigmaSquared
                + log(0.5) + logErfc((z0 - j) / (2.0.squareRoot() * sigma))
            logA0 = logAdd(logA0, s0)
            logA1 = logAdd(logA1, s1)
            let total = logAdd(logA0, logA1)
            if s0 < lastS0 && s1 < lastS1 && max(s0, s1) < total - 30 { return total }
            (lastS0, lastS1) = (s0, s1)
        }
        return .infinity
    }

    /// `log(eˣ + eʸ)` without overflow; `−∞` is the log of 0.
    static func logAdd(_ x: Double, _ y: Double) -> Double {
        let (a, b) = (min(x, y), max(x, y))
        if a == -.infinity { return b }
        return log1p(exp(a - b)) + b
    }

    /// `log |C(n, k)|` for real `n`, `k` through `log |Γ|`.
    static func logBinomial(_ n: Double, _ k: Double) -> Double {
        lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    }

    /// `log erfc(x)`, accurate where `erfc` underflows: past it, the asymptotic series
    /// `erfc(x) ≈ exp(−x² − ½x⁻² + ⅝x⁻⁴ − 37/24 x⁻⁶ + 353/64 x⁻⁸) / (x √π)`.
    static func logErfc(_ x: Double) -> Double {
        let r = erfc(x)
        if r > 1e-300 { return log(r) }
        let x2 = x * x
        return -log(Double.pi) / 2 - log(x) - x2 - 0.5 / x2 + 0.625 / (x2 * x2) - 37.0 / 24.0 / (x2 * x2 * x2)
            + 353.0 / 64.0 / (x2 * x2 * x2 * x2)
    }
}
