#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Binary cross-entropy on logits, in the stable form that never evaluates `log σ(z)` directly:
///
/// ```
/// ℓ(z, y) = −y·log σ(z) − (1 − y)·log(1 − σ(z))
///         = max(z, 0) − z·y + log(1 + e^{−|z|})
/// ∂ℓ/∂z   = σ(z) − y
/// logits z: (B) or (B, 1)   labels y: (B) or (B, 1), y ∈ [0, 1] or NaN (missing)
/// ```
///
/// Rows whose label is NaN (the task is unlabelled for that row) contribute nothing to the loss
/// or the gradient. The loss is a *sum*; divide by your own normaliser
/// (e.g. ``Tensor/countNonNaN()`` of the labels, or a support count).
public enum BCEWithLogits {
    /// `Σ_b ℓ(z_b, y_b)` over rows with a label, accumulated in Double.
    public static func loss(logits: Tensor, labels: Tensor) -> Double {
        checkShapes(logits: logits, labels: labels, "BCEWithLogits.loss")
        return logits.withUnsafeBufferPointer { z in
            labels.withUnsafeBufferPointer { y in
                var total = 0.0
                for i in 0..<z.count where !y[i].isNaN {
                    let zi = Double(z[i]), yi = Double(y[i])
                    total += max(zi, 0) - zi * yi + log1p(exp(-abs(zi)))
                }
                return total
            }
        }
    }

    /// Accumulates the logit gradient:
    ///
    /// ```
    /// dLogits[b] += scale · (σ(z_b) − y_b)        (0 where y_b is NaN)
    /// ```
    ///
    /// - Parameter scale: the loss weight over its normaliser, e.g. `w_k / rowCount`.
    public static func backward(logits: Tensor, labels: Tensor, scale: Float, dLogits: inout Tensor) {
        checkShapes(logits: logits, labels: labels, "BCEWithLogits.backward")
        precondition(
            dLogits.shape == logits.shape,
            "BCEWithLogits.backward: logits \(logits.shape) vs dLogits \(dLogits.shape)")
        logits.withUnsafeBufferPointer { z in
            labels.withUnsafeBufferPointer { y in
                dLogits.withUnsafeMutableBufferPointer { dz in
                    for i in 0..<dz.count where !y[i].isNaN {
                        dz[i] += scale * derivative(logit: z[i], label: y[i])
                    }
                }
            }
        }
    }

    /// `∂ℓ/∂z = σ(z) − y` given `p = σ(z)`: the one place this derivative is written (the tensor
    /// backward, the fused tower step and the inner losses all reach it through the two below).
    @inlinable public static func derivative(sigmoid p: Float, label y: Float) -> Float {
        p - y
    }

    /// `∂ℓ/∂z` at one logit.
    @inlinable public static func derivative(logit z: Float, label y: Float) -> Float {
        derivative(sigmoid: Sigmoid.value(z), label: y)
    }

    /// `d[s] = scale · ∂ℓ(z_s, y_s)/∂z_s` for `count` logits (0 where `y_s = y[s · labelStride]` is
    /// NaN), the sigmoid in one vectorised pass: the inner loop's hot path.
    public static func derivatives(
        logits z: UnsafePointer<Float>, count: Int, labels y: UnsafePointer<Float>, labelStride: Int, scale: Float,
        into d: UnsafeMutablePointer<Float>
    ) {
        Sigmoid.forward(z, count: count, into: d)
        for s in 0..<count {
            let label = y[s * labelStride]
            d[s] = label.isNaN ? 0 : scale * derivative(sigmoid: d[s], label: label)
        }
    }

    /// `∂²ℓ/∂z² = σ(z)(1 − σ(z))` (Hessian-vector products of the inner loop).
    @inlinable public static func secondDerivative(logit z: Float) -> Float {
        let p = Sigmoid.value(z)
        return p * (1 - p)
    }

    private static func checkShapes(logits: Tensor, labels: Tensor, _ op: StaticString) {
        let b = logits.requireColumnVector(op, "logits")
        let n = labels.requireColumnVector(op, "labels")
        precondition(b == n, "\(op): logits \(logits.shape) vs labels \(labels.shape): row counts differ")
    }
}
