import ModelMath
import ParamServer

extension SupportStore {
    /// The support encoder's view of `task`'s servable rows, oldest first: each row's source key
    /// (``SupportRowKey``, after its `K·H` meta-layer inputs) and its weighting label (NaN when
    /// the encoder weights by none). Rows are `(W, L)` = `(K·H + 2, K)` wide.
    ///
    /// - Parameters:
    ///   - features, labels: scratch of at least `S_max · W` and `S_max · K` floats.
    /// - Complexity: one `pull`, `O(S · (W + K))`.
    public func supportEncoderRows(task: UInt64, encoder: SupportEncoder, features: inout [Float], labels: inout [Float])
        -> (keys: [UInt64], labels: [Float]) {
        let w = config.rowWidth, k = config.labelWidth
        let s = features.withUnsafeMutableBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { l in pull(task: task, features: f, labels: l) }
        }
        var keys: [UInt64] = [], weights: [Float] = []
        keys.reserveCapacity(s)
        weights.reserveCapacity(s)
        features.withUnsafeBufferPointer { f in
            for i in 0..<s { keys.append(SupportRowKey.read(from: f.baseAddress! + i * w + (w - SupportRowKey.width))) }
        }
        for i in 0..<s { weights.append(encoder.labelColumn.map { labels[i * k + $0] } ?? .nan) }
        return (keys, weights)
    }
}
