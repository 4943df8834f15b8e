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
        var change: Float = 0, norm: Float = 0
        for (b, a) in zip(base.layers, adapted.layers) {
            Borrow.read(b.weight, a.weight) { x, y in Self.accumulate(x, y, count: b.weight.count, into: &change, &norm) }
            Borrow.read(b.bias, a.bias) { x, y in Self.accumulate(x, y, count: b.bias.count, into: &change, &norm) }
        }
        return change.squareRoot() <= maxRelativeChange * max(norm.squareRoot(), 1e-12)
    }

    /// `change += ‖y − x‖²`, `norm += ‖x‖²` over `count` floats, four independent partial sums so
    /// the loop vectorises (a per-request check: it must cost little beside the adaptation).
    private static func accumulate(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int,
                                   into change: inout Float, _ norm: inout Float) {
        var c = SIMD4<Float>(), n = SIMD4<Float>()
        var i = 0
        while i + 4 <= count {
            let xs = SIMD4(x[i], x[i + 1], x[i + 2], x[i + 3]), ys = SIMD4(y[i], y[i + 1], y[i + 2], y[i + 3])
            let d = ys - xs
            c += d * d
            n += xs * xs
            i += 4
        }
        var cs = c.sum(), ns = n.sum()
        while i < count {
            let d = y[i] - x[i]
            cs += d * d
            ns += x[i] * x[i]
            i += 1
        }
        change += cs
        norm += ns
    }

    /// Whether every `values[i · stride]`, `i < count`, lies in ``predictionRange``.
    public func acceptsPredictions(_ values: UnsafePointer<Float>, count: Int, stride: Int = 1) -> Bool {
        guard let range = predictionRange else { return true }
        for i in 0..<count where !range.contains(values[i * stride]) { return false }
        return true
    }
}
