import TensorCore

/// Decides whether an adapted tower may be served: the sane fallback for per-user adaptation.
/// An adapted tower is refused (and the base tower used for that request) when
///
/// ```
/// ‖θ' − θ‖ / max(‖θ‖, 1e-12) > maxRelativeChange          an outsized update
/// regression: ŷ ∉ [lo − m·(hi − lo), hi + m·(hi − lo)]     a prediction outside the label's range
/// ```
/// `[lo, hi]` is the label's range in the training data and `m` the margin. A large inner rate
/// can collapse a regression tower to one constant per user far outside the rating scale; this
/// catches that instead of serving it as fine-tuned.
public struct AdaptationGuard: Sendable, Equatable {
    /// The accepted range of regression predictions (widened already); nil = not checked.
    public var predictionRange: ClosedRange<Float>?
    /// Largest accepted `‖θ' − θ‖ / ‖θ‖`.
    public var maxRelativeChange: Float

    /// - Parameters:
    ///   - labelRange: the label's `[min, max]` in the training data (regression tasks), or nil.
    ///   - margin: `m`, as a fraction of the range's width.
    public init(labelRange: ClosedRange<Float>?, margin: Float, maxRelativeChange: Float) {
        precondition(margin >= 0 && maxRelativeChange > 0,
                     "AdaptationGuard: margin \(margin) must be >= 0 and maxRelativeChange \(maxRelativeChange) > 0")
        predictionRange = labelRange.map { r in
            let width = r.upperBound - r.lowerBound
            return (r.lowerBound - margin * width)...(r.upperBound + margin * width)
        }
        self.maxRelativeChange = maxRelativeChange
    }

    /// A guard that accepts every finite tower.
    public static let none = AdaptationGuard(labelRange: nil, margin: 0, maxRelativeChange: .infinity)

    /// Whether `adapted` moved no further from `base` than ``maxRelativeChange`` (relative to `‖θ‖`).
    public func acceptsUpdate(from base: MLPParameters, to adapted: MLPParameters) -> Bool {
        guard maxRelativeChange.isFinite else { return true }
        var change = 0.0, norm = 0.0
        for (b, a) in zip(base.layers, adapted.layers) {
            for (x, y) in [(b.weight, a.weight), (b.bias, a.bias)] {
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeBufferPointer { y in
                        for i in x.indices {
                            let d = Double(y[i] - x[i])
                            change += d * d
                            norm += Double(x[i]) * Double(x[i])
                        }
                    }
                }
            }
        }
        return change.squareRoot() <= Double(maxRelativeChange) * max(norm.squareRoot(), 1e-12)
    }

    /// Whether every `values[i · stride]`, `i < count`, lies in ``predictionRange``.
    public func acceptsPredictions(_ values: UnsafePointer<Float>, count: Int, stride: Int = 1) -> Bool {
        guard let range = predictionRange else { return true }
        for i in 0..<count where !range.contains(values[i * stride]) { return false }
        return true
    }
}
