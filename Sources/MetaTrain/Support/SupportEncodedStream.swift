import ModelDescription
import ModelMath

/// A pass over a log with the support encoder's columns attached to every batch
/// (``ModelMath/SupportHistory/attach(to:)``): each row pools its task's strictly earlier rows
/// of this pass, in file order, the newest `S_max`. A new stream starts with no history, so every
/// epoch, the validation pass and the support-set build see the same pools.
///
/// Must wrap the file-order stream (before any shuffle): the history is only right in event order.
/// Training's validation pass is seeded with the training log's history
/// (``SupportHistory/afterPass(over:encoder:)``), as evaluation is with the support store.
public struct SupportEncodedStream<Base: BatchStream>: BatchStream {
    /// The wrapped stream (its reader's counts after the pass).
    public private(set) var base: Base
    private var history: SupportHistory?
    /// A task's rows before this pass, asked once per task when it is first seen (evaluating a
    /// warm split: the support store's rows from training); nil = none.
    private let prior: ((UInt64) -> (keys: [UInt64], labels: [Float]))?
    private var seen: Set<UInt64> = []

    /// `base` unchanged when `encoder` is nil (the encoder is off).
    public init(_ base: Base, encoder: SupportEncoder?, prior: ((UInt64) -> (keys: [UInt64], labels: [Float]))? = nil) {
        self.base = base
        self.history = encoder.map(SupportHistory.init(encoder:))
        self.prior = prior
    }

    public mutating func next() throws -> EncodedBatch? {
        guard var batch = try base.next() else { return nil }
        guard history != nil else { return batch }
        if let prior {
            for task in batch.taskKeys where seen.insert(task).inserted {
                let rows = prior(task)
                history!.seed(task: task, keys: rows.keys, labels: rows.labels)
            }
        }
        history!.attach(to: &batch)
        return batch
    }
}
