import ModelDescription

/// A deterministic A/B split of users over model versions (`docs/DESIGN.md` §Serving fleet): a
/// user's share point is a hash of their id, so the same user lands on the same version every
/// time, on every replica, with no state.
///
/// ```
/// u(user)   = top 53 bits of FeatureKey.hash(salt, user) / 2⁵³          uniform in [0, 1)
/// version   = the arm i with  Σ_{j<i} w_j ≤ u · Σ w  <  Σ_{j≤i} w_j
/// ```
/// Changing the `salt` reshuffles users (a new experiment); changing the weights moves only the
/// users whose point crosses a boundary.
public struct TrafficSplit: Sendable, Equatable {
    /// One version and its share (weights need not sum to 1).
    public struct Arm: Sendable, Equatable {
        public var version: Int
        public var weight: Double

        public init(version: Int, weight: Double) {
            self.version = version
            self.weight = weight
        }
    }

    public let arms: [Arm]
    public let salt: String
    /// `arms[i]`'s upper bound on the unit interval (the last is 1).
    let bounds: [Double]
    let hasher: FeatureKeyHasher

    /// - Throws: ``ModelRepositoryError/invalidSplit(_:)`` for no arm, a weight that is not a
    ///   finite number ≥ 0, or weights summing to 0 or to more than the largest finite `Double`.
    public init(_ arms: [Arm], salt: String = "metarec.ab") throws(ModelRepositoryError) {
        guard !arms.isEmpty else { throw .invalidSplit("no version to split over") }
        for arm in arms where !(arm.weight.isFinite && arm.weight >= 0) {
            throw .invalidSplit("version \(arm.version): weight \(arm.weight) is not a finite number ≥ 0")
        }
        let total = arms.reduce(0) { $0 + $1.weight }
        guard total.isFinite else { throw .invalidSplit("the weights sum to \(total) (too large to split by)") }
        guard total > 0 else { throw .invalidSplit("the weights sum to 0") }
        var running = 0.0
        bounds = arms.enumerated().map { i, arm in
            running += arm.weight
            return i == arms.count - 1 ? 1 : running / total
        }
        self.arms = arms
        self.salt = salt
        hasher = FeatureKeyHasher(feature: salt)
    }

    /// The user's point on the unit interval, `[0, 1)`.
    public func point(user: String) -> Double {
        Double(hasher.hash(user) >> 11) * 0x1p-53
    }

    /// The version `user` is served by.
    public func version(user: String) -> Int {
        let u = point(user: user)
        for (i, bound) in bounds.enumerated() where u < bound && arms[i].weight > 0 { return arms[i].version }
        return arms.last { $0.weight > 0 }!.version
    }

    public static func == (a: TrafficSplit, b: TrafficSplit) -> Bool { a.arms == b.arms && a.salt == b.salt }
}
