import TensorCore

/// Per-task losses on logits; sums over labelled rows (NaN labels are missing and skipped).
public enum TaskLoss {
    /// `Σ_b loss(z_b, y_b)` over labelled rows: BCE on logits (binary) or `(z − y)²` (regression).
    public static func loss(kind: TaskKind, logits: Tensor, labels: Tensor) -> Double {
        switch kind {
        case .binary: BCEWithLogits.loss(logits: logits, labels: labels)
        case .regression: MSE.loss(predictions: logits, labels: labels)
        }
    }

    /// `dLogits += scale · ∂loss/∂z` over labelled rows.
    public static func backward(kind: TaskKind, logits: Tensor, labels: Tensor, scale: Float, dLogits: inout Tensor) {
        switch kind {
        case .binary: BCEWithLogits.backward(logits: logits, labels: labels, scale: scale, dLogits: &dLogits)
        case .regression: MSE.backward(predictions: logits, labels: labels, scale: scale, dPredictions: &dLogits)
        }
    }

    /// The head's output for a logit: `σ(z)` (binary) or `z` (regression).
    @inlinable public static func prediction(kind: TaskKind, logit: Float) -> Float {
        switch kind {
        case .binary: 1 / (1 + expf(-logit))
        case .regression: logit
        }
    }

    /// Copies column `k` of the batch's labels into `out` `(B)`.
    public static func labels(of batch: EncodedBatch, task k: Int, into out: inout Tensor) {
        let b = batch.count, kk = batch.labelWidth
        out.resize(to: [b])
        batch.labels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<b { dst[r] = src[r * kk + k] }
            }
        }
    }

    /// Number of non-NaN labels among `labels[i · stride]`, `i < count` (a column of a
    /// row-major label matrix read in place).
    public static func labelledCount(_ labels: UnsafePointer<Float>, count: Int, stride: Int = 1) -> Int {
        var n = 0
        for i in 0..<count where !labels[i * stride].isNaN { n += 1 }
        return n
    }

    /// Number of non-NaN labels.
    public static func labelledCount(_ labels: Tensor) -> Int {
        labels.scalars.reduce(0) { $0 + ($1.isNaN ? 0 : 1) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
