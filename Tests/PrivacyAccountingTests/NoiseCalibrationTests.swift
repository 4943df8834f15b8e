import PrivacyAccounting
import Testing

/// The calibrated noise multiplier is the smallest that meets the budget (to the bisection's tolerance).
@Suite struct NoiseCalibrationTests {
    static func epsilon(q: Double, sigma: Double, steps: Int, delta: Double) -> Double {
        var accountant = RDPAccountant()
        accountant.composeSampledGaussian(samplingRate: q, noiseMultiplier: sigma, count: steps)
        return accountant.epsilon(delta: delta).epsilon
    }

    @Test(arguments: [(0.1, 300, 1.0), (0.1, 300, 8.0), (0.01, 1000, 3.0), (1.0, 5, 2.0)])
    func `σ meets the target and 0.1 % less noise does not`(q: Double, steps: Int, target: Double) throws {
        let sigma = try #require(NoiseCalibration.noiseMultiplier(targetEpsilon: target, delta: 1e-5, samplingRate: q, steps: steps))
        #expect(Self.epsilon(q: q, sigma: sigma, steps: steps, delta: 1e-5) <= target)
        #expect(Self.epsilon(q: q, sigma: sigma * 0.999, steps: steps, delta: 1e-5) > target)
    }

    @Test func `an unreachable budget gives nil`() {
        #expect(NoiseCalibration.noiseMultiplier(targetEpsilon: 1e-9, delta: 1e-5, samplingRate: 1, steps: 1_000_000) == nil)
    }
}
