/// Where training stands, checkpointed with the weights so `--resume` can continue after a
/// crash: the epoch in progress, how many of its mini-batches were applied, and the
/// early-stopping bookkeeping.
public struct TrainingState: Sendable, Codable, Equatable {
    /// The epoch in progress (0-based).
    public var epoch: Int = 0
    /// Mini-batches of `epoch` already applied.
    public var batchesDone: Int = 0
    /// Rows trained on so far, all epochs.
    public var rowsTrained: Int = 0
    /// Adam steps taken.
    public var optimizerStep: Int = 0
    /// Best validation loss so far and the epoch it was reached in.
    public var bestValidationLoss: Double? = nil
    public var bestEpoch: Int? = nil
    /// Epochs completed without improving on the best validation loss.
    public var epochsWithoutImprovement: Int = 0
    /// Whether training finished (early stopping or all epochs).
    public var finished: Bool = false
    /// Fingerprint of the training data; resuming on other data is refused.
    public var dataFingerprint: String = ""

    public init() {}
}
