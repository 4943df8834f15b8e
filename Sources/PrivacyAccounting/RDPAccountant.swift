#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Composes Rényi-DP over the rounds of a training run and converts it to an (ε, δ) guarantee.
///
/// RDP composes by addition at each order: `k` rounds of a mechanism with `ε_RDP(α)` give
/// `k · ε_RDP(α)`. The conversion to (ε, δ)-DP takes the best order (Canonne, Kamath and Steinke
/// 2020, Prop. 12; Balle et al. 2020):
///
/// ```
/// ε(δ) = min_α  ε_RDP(α) + log(1 − 1/α) − (log δ + log α) / (α − 1)        (α > 1.01)
/// ```
/// clamped at 0, and 0 when `δ² + expm1(−ε_RDP(α)) > 0` (the divergence is already below what δ
/// allows). The default orders are those of Google's `dp-accounting`, so the two agree.
public struct RDPAccountant: Sendable, Equatable {
    /// `1.1, 1.2, …, 10.9, 11, 12, …, 63, 128, 256, 512, 1024`.
    public static let defaultOrders: [Double] =
        (1..<100).map { 1 + Double($0) / 10 } + (11..<64).map(Double.init) + [128, 256, 512, 1024]

    /// The orders `α` tracked.
    public let orders: [Double]
    /// The composed `ε_RDP(α)`, one per order.
    public private(set) var rdp: [Double]

    public init(orders: [Double] = defaultOrders) {
        precondition(!orders.isEmpty && orders.allSatisfy { $0 > 1 }, "RDPAccountant: every order must be > 1")
        self.orders = orders
        self.rdp = [Double](repeating: 0, count: orders.count)
    }

    /// Adds `count` applications of the Poisson-subsampled Gaussian mechanism (rate `q`, noise
    /// multiplier `σ` = noise standard deviation / clipping norm).
    public mutating func composeSampledGaussian(samplingRate q: Double, noiseMultiplier sigma: Double, count: Int = 1) {
        precondition(count >= 0, "RDPAccountant: count \(count) is negative")
        for (i, alpha) in orders.enumerated() {
            rdp[i] += Double(count) * SampledGaussianRDP.rdp(samplingRate: q, noiseMultiplier: sigma, order: alpha)
        }
    }

    /// Adds `count` repetitions of what `other` has composed (same orders): a mechanism's
    /// per-round RDP computed once, then added every round.
    public mutating func compose(_ other: RDPAccountant, count: Int = 1) {
        precondition(other.orders == orders, "RDPAccountant: composing accountants over different orders")
        precondition(count >= 0, "RDPAccountant: count \(count) is negative")
        for i in rdp.indices { rdp[i] += Double(count) * other.rdp[i] }
    }

    /// The smallest ε for which the composed mechanism is (ε, δ)-DP, and the order that gives it.
    public func epsilon(delta: Double) -> (epsilon: Double, order: Double) {
        precondition(delta > 0 && delta < 1, "RDPAccountant: δ = \(delta) is not in (0, 1)")
        var best = (epsilon: Double.infinity, order: orders[0])
        for (alpha, r) in zip(orders, rdp) {
            let epsilon: Double
            if r < 0 || delta * delta + expm1(-r) > 0 {
                epsilon = 0
            } else if alpha > 1.01 {
                epsilon = r + log1p(-1 / alpha) - log(delta * alpha) / (alpha - 1)
            } else {
                epsilon = .infinity
            }
            if epsilon < best.epsilon { best = (epsilon, alpha) }
        }
        return (max(0, best.epsilon), best.order)
    }
}
