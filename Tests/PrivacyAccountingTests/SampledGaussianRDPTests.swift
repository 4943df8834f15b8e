import Foundation
import PrivacyAccounting
import Testing

/// The RDP of the sampled Gaussian mechanism against closed forms and direct evaluation.
@Suite struct SampledGaussianRDPTests {
    @Test(arguments: [1.5, 2, 7.3, 64])
    func `without sampling it is the Gaussian mechanism's α over 2σ²`(alpha: Double) {
        let sigma = 1.7
        #expect(SampledGaussianRDP.rdp(samplingRate: 1, noiseMultiplier: sigma, order: alpha) == alpha / (2 * sigma * sigma))
        #expect(SampledGaussianRDP.rdp(samplingRate: 0, noiseMultiplier: sigma, order: alpha) == 0)
        #expect(SampledGaussianRDP.rdp(samplingRate: 0.1, noiseMultiplier: 0, order: alpha) == .infinity)
    }

    @Test(arguments: [2, 3, 5, 8])
    func `the integer-order sum in log space equals its direct evaluation`(alpha: Int) {
        let (q, sigma) = (0.07, 1.3)
        var a = 0.0
        for i in 0...alpha {
            let binomial = (0..<i).reduce(1.0) { $0 * Double(alpha - $1) / Double($1 + 1) }
            a += binomial * pow(1 - q, Double(alpha - i)) * pow(q, Double(i)) * exp(Double(i * i - i) / (2 * sigma * sigma))
        }
        let expected = log(a) / Double(alpha - 1)
        let got = SampledGaussianRDP.rdp(samplingRate: q, noiseMultiplier: sigma, order: Double(alpha))
        #expect(abs(got - expected) <= 1e-12 * max(1, expected))
    }

    @Test(arguments: [2.0, 3, 6, 20])
    func `the fractional-order series meets the integer sum at integer orders`(alpha: Double) {
        for (q, sigma) in [(0.01, 1.1), (0.2, 2.0), (0.05, 0.9)] {
            let integer = SampledGaussianRDP.rdp(samplingRate: q, noiseMultiplier: sigma, order: alpha)
            for offset in [-1e-7, 1e-7] {
                let fractional = SampledGaussianRDP.rdp(samplingRate: q, noiseMultiplier: sigma, order: alpha + offset)
                #expect(abs(fractional - integer) <= 1e-4 * integer, "q \(q), σ \(sigma), α \(alpha + offset)")
            }
        }
    }

    @Test func `the divergence grows with the order and the sampling rate and falls with the noise`() {
        let orders = RDPAccountant.defaultOrders
        let values = orders.map { SampledGaussianRDP.rdp(samplingRate: 0.02, noiseMultiplier: 1.5, order: $0) }
        for (a, b) in zip(values, values.dropFirst()) where b.isFinite { #expect(a <= b * (1 + 1e-9)) }
        #expect(SampledGaussianRDP.rdp(samplingRate: 0.05, noiseMultiplier: 1.5, order: 8)
                > SampledGaussianRDP.rdp(samplingRate: 0.02, noiseMultiplier: 1.5, order: 8))
        #expect(SampledGaussianRDP.rdp(samplingRate: 0.02, noiseMultiplier: 3, order: 8)
                < SampledGaussianRDP.rdp(samplingRate: 0.02, noiseMultiplier: 1.5, order: 8))
    }
}

@Suite struct RDPAccountantTests {
    @Test func `composition adds per order and ε follows the conversion formula`() {
        var once = RDPAccountant(orders: [2, 8, 32])
        once.composeSampledGaussian(samplingRate: 1, noiseMultiplier: 2)
        var many = RDPAccountant(orders: [2, 8, 32])
        many.composeSampledGaussian(samplingRate: 1, noiseMultiplier: 2, count: 10)
        for (a, b) in zip(once.rdp, many.rdp) { #expect(abs(10 * a - b) < 1e-12 * b) }
        // Gaussian mechanism, 10 rounds: ε_RDP(α) = 10α/8; the conversion at each order.
        let delta = 1e-5
        let expected = [2.0, 8, 32].map { a in 10 * a / 8 + log1p(-1 / a) - log(delta * a) / (a - 1) }.min()!
        #expect(abs(many.epsilon(delta: delta).epsilon - expected) < 1e-12 * expected)
    }

    @Test func `more rounds spend more, more noise spends less, nothing spent is ε 0`() {
        func epsilon(_ sigma: Double, _ rounds: Int) -> Double {
            var accountant = RDPAccountant()
            accountant.composeSampledGaussian(samplingRate: 0.01, noiseMultiplier: sigma, count: rounds)
            return accountant.epsilon(delta: 1e-5).epsilon
        }
        #expect(epsilon(1.1, 100) < epsilon(1.1, 1000))
        #expect(epsilon(2.0, 1000) < epsilon(1.1, 1000))
        #expect(RDPAccountant().epsilon(delta: 1e-5).epsilon == 0)
    }
}

@Suite struct RDPCompositionTests {
    @Test func `composing a per-round accountant equals composing the mechanism`() {
        var once = RDPAccountant()
        once.composeSampledGaussian(samplingRate: 0.03, noiseMultiplier: 1.2)
        var stepped = RDPAccountant()
        stepped.compose(once, count: 7)
        var direct = RDPAccountant()
        direct.composeSampledGaussian(samplingRate: 0.03, noiseMultiplier: 1.2, count: 7)
        #expect(stepped == direct)
    }
}
