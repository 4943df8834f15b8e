/// Squared error for regression tasks:
///
/// ```
/// ℓ(ŷ, y) = (ŷ − y)²
/// ∂ℓ/∂ŷ   = 2(ŷ − y)
/// predictions ŷ: (B) or (B, 1)   labels y: (B) or (B, 1), NaN = missing
/// ```
///
/// Same conventions as ``BCEWithLogits``: the loss is a sum in Double, rows with a NaN label
/// are skipped.
public enum MSE {
    /// `Σ_b (ŷ_b − y_b)²` over rows with a label, accumulated in Double.
    public static func loss(predictions: Tensor, labels: Tensor) -> Double {
        checkShapes(predictions: predictions, labels: labels, "MSE.loss")
        return predictions.withUnsafeBufferPointer { p in
            labels.withUnsafeBufferPointer { y in
                var total = 0.0
                for i in 0..<p.count where !y[i].isNaN {
                    let r = Double(p[i]) - Double(y[i])
                    total += r * r
                }
                return total
            }
        }
    }

    /// Accumulates the prediction gradient:
    ///
    /// ```
    /// dPredictions[b] += scale · 2(ŷ_b − y_b)        (0 where y_b is NaN)
    /// ```
    public static func backward(predictions: Tensor, labels: Tensor, scale: Float, dPredictions: inout Tensor) {
        checkShapes(predictions: predictions, labels: labels, "MSE.backward")
        precondition(
            dPredictions.shape == predictions.shape,
            "MSE.backward: predictions \(predictions.shape) vs dPredictions \(dPredictions.shape)")
        predictions.withUnsafeBufferPointer { p in
            labels.withUnsafeBufferPointer { y in
                dPredictions.withUnsafeMutableBufferPointer { dp in
                    for i in 0..<dp.count where !y[i].isNaN {
                        dp[i] += scale * derivative(prediction: p[i], label: y[i])
                    }
                }
            }
        }
    }

    /// `∂ℓ/∂ŷ = 2(ŷ − y)`: the one place this derivative is written.
    @inlinable public static func derivative(prediction p: Float, label y: Float) -> Float {
        2 * (p - y)
    }

    /// `∂²ℓ/∂ŷ² = 2`.
    @inlinable public static func secondDerivative() -> Float { 2 }

    private static func checkShapes(predictions: Tensor, labels: Tensor, _ op: StaticString) {
        let b = predictions.requireColumnVector(op, "predictions")
        let n = labels.requireColumnVector(op, "labels")
        precondition(b == n, "\(op): predictions \(predictions.shape) vs labels \(labels.shape): row counts differ")
    }
}
