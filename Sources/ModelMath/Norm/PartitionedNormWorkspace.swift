import TensorCore

/// What ``PartitionedNorm/forward(_:rowScenes:input:statistics:epsilon:workspace:output:)`` keeps
/// for its backward, reused across batches. Groups `g = 0 ..< S` are the scenes, `g = S` the
/// pooled statistics of unknown-scene rows.
public struct PartitionedNormWorkspace: Sendable {
    /// `(S + 1, H)` the mean each group's rows were normalised with (batch or running).
    var mean = Tensor(shape: [0, 1])
    /// `(S + 1, H)` `1 / sqrt(σ² + ε)` of each group.
    var inverseStd = Tensor(shape: [0, 1])
    /// `(S + 1)` whether the group used batch statistics (its gradient then flows through them).
    var usesBatch: [Bool] = []
    /// `(S + 1)` rows the group's batch statistics are over (the scene's rows; all rows for `S`).
    var statisticRows: [Int] = []
    /// `(B, H)` `x̂ = (f − μ_g) / sqrt(σ²_g + ε)` of every row in its own group.
    var normalized = Tensor(shape: [0, 1])
    /// `(S + 1, H)` backward scratch: `Σ dx̂` and `Σ dx̂ ⊙ x̂` over each group's rows.
    var sumDelta: [Double] = []
    var sumDeltaNormalized: [Double] = []
    /// This pass's sums per scene (batch statistics only), for the running update.
    public internal(set) var sums = PartitionedNormSums()

    public init() {}
}
