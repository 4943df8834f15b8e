/// The smallest noise multiplier that keeps a run within an ε budget.
public enum NoiseCalibration {
    /// The smallest `σ` (to a relative tolerance of `1e-4`) such that `steps` compositions of the
    /// Poisson-subsampled Gaussian mechanism with rate `q` stay at `ε(δ) ≤ target`.
    ///
    /// `ε(δ)` decreases in `σ`, so bisection on `[0, σ_hi]`, with `σ_hi` doubled from 1 until it
    /// meets the target; nil when even `σ = 2¹⁶` does not (an absurd budget).
    ///
    /// - Parameters:
    ///   - target: the ε budget, > 0.
    ///   - delta: δ in (0, 1).
    ///   - samplingRate: `q` in (0, 1]; 1 = no amplification (local DP: one client's uploads).
    ///   - steps: compositions, ≥ 1 (rounds, or a client's participation cap).
    public static func noiseMultiplier(targetEpsilon target: Double, delta: Double, samplingRate q: Double,
                                       steps: Int) -> Double? {
        precondition(target > 0 && target.isFinite, "NoiseCalibration: target ε \(target) must be finite and > 0")
        precondition(q > 0 && q <= 1, "NoiseCalibration: sampling rate \(q) is not in (0, 1]")
        precondition(steps >= 1, "NoiseCalibration: steps \(steps) must be >= 1")
        func epsilon(_ sigma: Double) -> Double {
            var accountant = RDPAccountant()
            accountant.composeSampledGaussian(samplingRate: q, noiseMultiplier: sigma, count: steps)
            return accountant.epsilon(delta: delta).epsilon
        }
        var high = 1.0
        while epsilon(high) > target {
            high *= 2
            if high > 65_536 { return nil }
        }
        var low = 0.0
        while high - low > 1e-4 * high {
            let mid = (low + high) / 2
            if epsilon(mid) > target { low = mid } else { high = mid }
        }
        return high
    }
}
