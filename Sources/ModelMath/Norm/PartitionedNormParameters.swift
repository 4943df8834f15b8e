import TensorCore

/// One task's partitioned normalisation (``PartitionedNormalization``): the trained affine
/// factors and the running statistics. Parameters and gradients share the type; in a gradient
/// the statistics stay zero (they are state, moved only by ``updateRunningStatistics(with:momentum:)``,
/// never by an optimiser).
public struct PartitionedNormParameters: Sendable, Equatable {
    /// `(H)` shared scale `γ` (init 1).
    public var gamma: Tensor
    /// `(H)` shared shift `β` (init 0).
    public var beta: Tensor
    /// `(S, H)` per-scene scales `γ_s` (init 1; a row of scene `s` is scaled by `γ ⊙ γ_s`).
    public var sceneGamma: Tensor
    /// `(S, H)` per-scene shifts `β_s` (init 0; added to `β`).
    public var sceneBeta: Tensor
    /// `(S + 1, H)` running means `μ̂_s`; row `S` pools every scene (for unknown scenes). Init 0.
    public var runningMean: Tensor
    /// `(S + 1, H)` running variances `σ̂²_s`, row `S` pooled. Init 1.
    public var runningVariance: Tensor

    /// The tensors, by the name they are saved under (`partitioned_norm.<k>.<name>`).
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case gamma, beta
        case sceneGamma = "scene_gamma", sceneBeta = "scene_beta"
        case runningMean = "running_mean", runningVariance = "running_variance"

        /// Whether the field is running statistics (state, not a trained parameter).
        public var isStatistic: Bool { self == .runningMean || self == .runningVariance }
    }

    /// The identity normalisation's factors (`γ = γ_s = 1`, `β = β_s = 0`) and statistics
    /// `μ̂ = 0, σ̂² = 1` for `scenes` scenes of width `width`.
    public init(scenes: Int, width h: Int) {
        precondition(scenes > 0 && h > 0, "PartitionedNormParameters: \(scenes) scenes, width \(h)")
        gamma = Tensor(shape: [h], repeating: 1)
        beta = Tensor(shape: [h])
        sceneGamma = Tensor(shape: [scenes, h], repeating: 1)
        sceneBeta = Tensor(shape: [scenes, h])
        runningMean = Tensor(shape: [scenes + 1, h])
        runningVariance = Tensor(shape: [scenes + 1, h], repeating: 1)
    }

    /// `S`.
    public var sceneCount: Int { sceneGamma.rows }
    /// `H`.
    public var width: Int { gamma.count }

    /// The tensor of `field`.
    public subscript(field: Field) -> Tensor {
        get {
            switch field {
            case .gamma: gamma
            case .beta: beta
            case .sceneGamma: sceneGamma
            case .sceneBeta: sceneBeta
            case .runningMean: runningMean
            case .runningVariance: runningVariance
            }
        }
    }

    /// In-place access to the tensor of `field` (no copy).
    public mutating func withTensor<R>(_ field: Field, _ body: (inout Tensor) throws -> R) rethrows -> R {
        switch field {
        case .gamma: try body(&gamma)
        case .beta: try body(&beta)
        case .sceneGamma: try body(&sceneGamma)
        case .sceneBeta: try body(&sceneBeta)
        case .runningMean: try body(&runningMean)
        case .runningVariance: try body(&runningVariance)
        }
    }

    /// Zeros of the same shapes (a gradient accumulator).
    public func zeros() -> PartitionedNormParameters {
        var z = self
        for field in Field.allCases { z.withTensor(field) { $0.fill(0) } }
        return z
    }

    /// The inference form: per group `g` (scene, or `S` for the pooled statistics) and column,
    /// `f' = scale[g] ⊙ f + shift[g]` with `scale = γ ⊙ γ_g / sqrt(σ̂²_g + ε)` and
    /// `shift = β + β_g − scale ⊙ μ̂_g` (`γ_S = 1, β_S = 0`). Both `(S + 1, H)`.
    public func inferenceAffine(epsilon: Float) -> (scale: Tensor, shift: Tensor) {
        let s = sceneCount, h = width
        var scale = Tensor(shape: [s + 1, h]), shift = Tensor(shape: [s + 1, h])
        for g in 0...s {
            for j in 0..<h {
                let a = gamma[j] * (g < s ? sceneGamma[g, j] : 1) / (runningVariance[g, j] + epsilon).squareRoot()
                scale[g, j] = a
                shift[g, j] = beta[j] + (g < s ? sceneBeta[g, j] : 0) - a * runningMean[g, j]
            }
        }
        return (scale, shift)
    }

    /// One step of the running statistics from a batch's merged sums: per scene, and pooled over
    /// every row for row `S`; a group with fewer than 2 rows keeps its statistics.
    ///
    /// ```
    /// μ̂ ← m·μ̂ + (1 − m)·μ      σ̂² ← m·σ̂² + (1 − m)·σ²·n/(n − 1)     (unbiased, as in batch norm)
    /// ```
    public mutating func updateRunningStatistics(with sums: PartitionedNormSums, momentum m: Float) {
        let s = sceneCount, h = width
        precondition(sums.groups == s + 1 && sums.width == h, "PartitionedNormParameters: sums of \(sums.groups) × \(sums.width) for S = \(s), H = \(h)")
        let pooledCount = sums.counts.reduce(0, +)
        for g in 0...s {
            let n = g < s ? sums.counts[g] : pooledCount
            guard n >= 2 else { continue }
            for j in 0..<h {
                var total = 0.0, squares = 0.0
                if g < s {
                    total = sums.sum[g * h + j]
                    squares = sums.sumOfSquares[g * h + j]
                } else {
                    for q in 0...s { total += sums.sum[q * h + j]; squares += sums.sumOfSquares[q * h + j] }
                }
                let mean = total / Double(n)
                let variance = max(squares - Double(n) * mean * mean, 0) / Double(n - 1)
                runningMean[g, j] = m * runningMean[g, j] + (1 - m) * Float(mean)
                runningVariance[g, j] = m * runningVariance[g, j] + (1 - m) * Float(variance)
            }
        }
    }
}

/// A batch's (or shard's) sums per scene, for the running statistics: row count, `Σ f` and
/// `Σ f²` per column of every scene `0 ..< S` and of the unknown scenes' rows (group `S`).
/// Workers' sums add (``add(_:)``), so the running update sees the whole batch.
public struct PartitionedNormSums: Sendable, Equatable {
    /// `(S + 1)` rows per group.
    public var counts: [Int] = []
    /// `(S + 1, H)` row-major.
    public var sum: [Double] = []
    /// `(S + 1, H)` row-major.
    public var sumOfSquares: [Double] = []
    /// `H`.
    public private(set) var width = 0

    public init() {}

    /// `S + 1`.
    public var groups: Int { counts.count }

    /// Zeroes the sums for `groups` groups of width `h`, keeping storage.
    mutating func reset(groups: Int, width h: Int) {
        width = h
        counts.removeAll(keepingCapacity: true)
        counts.append(contentsOf: repeatElement(0, count: groups))
        sum.removeAll(keepingCapacity: true)
        sum.append(contentsOf: repeatElement(0, count: groups * h))
        sumOfSquares.removeAll(keepingCapacity: true)
        sumOfSquares.append(contentsOf: repeatElement(0, count: groups * h))
    }

    /// Adds another shard's sums (an empty `self` takes `other`'s shape).
    public mutating func add(_ other: PartitionedNormSums) {
        guard other.groups > 0 else { return }
        if groups == 0 { reset(groups: other.groups, width: other.width) }
        precondition(groups == other.groups && width == other.width, "PartitionedNormSums: \(groups) × \(width) + \(other.groups) × \(other.width)")
        for g in 0..<groups { counts[g] += other.counts[g] }
        for i in sum.indices {
            sum[i] += other.sum[i]
            sumOfSquares[i] += other.sumOfSquares[i]
        }
    }
}
