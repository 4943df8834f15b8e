import ModelMath

/// Running mean and variance of one numeric feature (Welford 1962; Chan et al. 1979 to merge).
///
/// ```
/// n ← n + 1;  δ = x − mean;  mean ← mean + δ / n;  M2 ← M2 + δ · (x − mean)
/// variance = M2 / n   (population)        std = √variance
/// ```
public struct NumericMoments: Sendable, Equatable, Codable {
    /// Values seen (missing values are not counted).
    public private(set) var count: Int = 0
    /// Running mean.
    public private(set) var mean: Double = 0
    /// Sum of squared deviations from the mean.
    public private(set) var m2: Double = 0

    public init() {}

    /// Moments with the given values (e.g. read back from a manifest).
    public init(count: Int, mean: Double, m2: Double) {
        self.count = count
        self.mean = mean
        self.m2 = m2
    }

    /// Adds one value.
    public mutating func add(_ x: Double) {
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
    }

    /// Combines two disjoint samples (parallel fitting).
    public mutating func merge(_ other: NumericMoments) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let n = Double(count + other.count)
        let delta = other.mean - mean
        mean += delta * Double(other.count) / n
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / n
        count += other.count
    }

    /// Population variance (0 with fewer than two values).
    public var variance: Double { count > 1 ? m2 / Double(count) : 0 }

    /// Population standard deviation.
    public var standardDeviation: Double { variance.squareRoot() }
}

/// Fitted moments of every numeric feature, by name: stored with the model so serving
/// normalises exactly as training did.
///
/// Fitted by one streaming pass over the training data (``FeatureEncoder/parseRow(_:into:)``
/// gives the raw values); missing values are skipped.
public struct NumericStatistics: Sendable, Equatable, Codable {
    /// Moments by feature name.
    public var moments: [String: NumericMoments]

    /// Empty statistics (a feature without moments normalises with mean 0, std 1).
    public init(moments: [String: NumericMoments] = [:]) {
        self.moments = moments
    }

    /// Empty moments for each of `features`.
    public init(features: [String]) {
        self.moments = Dictionary(uniqueKeysWithValues: features.map { ($0, NumericMoments()) })
    }

    /// The moments of `feature`, if fitted.
    public subscript(feature: String) -> NumericMoments? {
        get { moments[feature] }
        set { moments[feature] = newValue }
    }

    /// Adds every feature's moments of `other` (disjoint samples).
    public mutating func merge(_ other: NumericStatistics) {
        for (name, m) in other.moments { moments[name, default: NumericMoments()].merge(m) }
    }
}
