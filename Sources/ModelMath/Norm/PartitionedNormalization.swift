/// Which scene's statistics and affine normalise each row of a task's meta-layer input `f_k`:
/// partitioned normalisation (PN; Sheng et al. CIKM 2021, "One Model to Serve All: Star Topology
/// Adaptive Recommender for Multi-Domain CTR Prediction", §PN; `docs/DESIGN.md` §Cross-domain).
///
/// ```
/// training (batch statistics):  μ_s, σ²_s = mean, biased variance over the batch rows of scene s, per column
/// inference (running):          μ̂_s, σ̂²_s
/// f'[b] = (γ ⊙ γ_s) ⊙ (f[b] − μ_s) / sqrt(σ²_s + ε) + (β + β_s)        s = scene(b)
/// running: μ̂_s ← m·μ̂_s + (1 − m)·μ_s,  σ̂²_s ← m·σ̂²_s + (1 − m)·σ²_s·n/(n − 1)    once per step
/// ```
/// A row whose scene key is none of `sceneKeys` (unknown scene) is normalised with the shared
/// `γ, β` alone and statistics pooled over *all* the batch's rows (running: `μ̂, σ̂²` of the
/// pooled group, index `S`). A scene with fewer than `minimumBatchRows` (≥ 2) rows in a batch
/// (shard) has no variance, or too noisy a one: its rows use the running statistics as constants.
public struct PartitionedNormalization: Sendable, Equatable {
    /// The scene feature's slot among the batch's categorical columns (`categorical[b·Fc + column]`).
    public var column: Int
    /// The scenes' keys (their hashed values), in scene order `s = 0 ..< S`.
    public var sceneKeys: [UInt64]
    /// `m` of the running statistics' exponential moving average, in `[0, 1)`.
    public var momentum: Float
    /// `ε` added to every variance.
    public var epsilon: Float
    /// The fewest rows of a scene in a batch whose statistics normalise them (≥ 2); fewer take the
    /// running statistics.
    public var minimumBatchRows: Int

    public init(column: Int, sceneKeys: [UInt64], momentum: Float = 0.99, epsilon: Float = 1e-5, minimumBatchRows: Int = 2) {
        precondition(column >= 0 && !sceneKeys.isEmpty, "PartitionedNormalization: column \(column), \(sceneKeys.count) scenes")
        precondition(Set(sceneKeys).count == sceneKeys.count, "PartitionedNormalization: duplicate scene keys")
        precondition(momentum >= 0 && momentum < 1 && epsilon > 0,
                     "PartitionedNormalization: momentum \(momentum) not in [0, 1) or epsilon \(epsilon) <= 0")
        self.column = column
        self.sceneKeys = sceneKeys
        self.momentum = momentum
        precondition(minimumBatchRows >= 2, "PartitionedNormalization: minimumBatchRows \(minimumBatchRows) < 2")
        self.epsilon = epsilon
        self.minimumBatchRows = minimumBatchRows
    }

    /// `S`: the scenes with statistics and factors of their own.
    public var sceneCount: Int { sceneKeys.count }

    /// Scene index of each of `batch`'s rows (−1 for an unknown scene) into `scenes`, `(B)`.
    public func scenes(of batch: EncodedBatch, into scenes: inout [Int32]) {
        batch.sceneIndices(column: column, sceneKeys: sceneKeys, into: &scenes, owner: "PartitionedNormalization")
    }
}

/// Which statistics a normalisation pass uses.
public enum NormStatistics: Sendable, Equatable {
    /// The batch's own (training): gradients flow through them, and their sums are kept for the
    /// running update.
    case batch
    /// The running statistics, as constants (evaluation, support building, serving).
    case running
}
