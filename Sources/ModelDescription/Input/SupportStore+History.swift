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
        let s = features.withUnsafeMutableBufferPointer { f in
            labels.withUnsafeMutableBufferPointer { l in pull(task: task, features: f, labels: l) }
        }
        return SupportEncoderRows.read(count: s, features: features, rowWidth: config.rowWidth, labels: labels,
                                       labelWidth: config.labelWidth, encoder: encoder)
    }
}

/// Reading the support encoder's columns out of pulled support rows (from any support store).
public enum SupportEncoderRows {
    /// Each of the first `count` rows' source key (the last ``SupportRowKey/width`` floats of its
    /// `rowWidth`) and weighting label (column `encoder.labelColumn` of its `labelWidth`, NaN
    /// when the encoder weights by none).
    ///
    /// - Parameters: features `(count, rowWidth)`, labels `(count, labelWidth)`, row-major.
    public static func read(count s: Int, features: [Float], rowWidth w: Int, labels: [Float], labelWidth k: Int,
                            encoder: SupportEncoder) -> (keys: [UInt64], labels: [Float]) {
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
