import Testing
import TensorCore

/// Checks `actual ≈ expected` elementwise: `|a − e| ≤ atol + rtol·|e|` for every element.
/// Checks the shape first and, on failure, reports the worst element's index and values.
public func expectClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6,
    _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.shape == expected.shape else {
        Issue.record("shape \(actual.shape) != expected \(expected.shape) \(comment)", sourceLocation: sourceLocation)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    for i in 0..<actual.count {
        let a = actual.scalars[i], e = expected.scalars[i]
        let excess = abs(a - e) - (atol + rtol * abs(e))
        if !(excess <= 0) && (worst < 0 || !(excess <= worstExcess)) {
            worst = i
            worstExcess = excess.isNaN ? .infinity : excess
        }
    }
    if worst >= 0 {
        Issue.record(
            "not close at flat index \(worst) of \(actual.shape): actual \(actual.scalars[worst]), expected \(expected.scalars[worst]) (rtol \(rtol), atol \(atol)) \(comment)",
            sourceLocation: sourceLocation)
    }
}

/// Scalar form of ``expectClose(_:_:rtol:atol:_:sourceLocation:)``.
public func expectClose(
    _ actual: Double, _ expected: Double, rtol: Double = 1e-5, atol: Double = 1e-6,
    _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if !(abs(actual - expected) <= atol + rtol * abs(expected)) {
        Issue.record("\(actual) not close to \(expected) (rtol \(rtol), atol \(atol)) \(comment)", sourceLocation: sourceLocation)
    }
}

/// The largest relative error `|a − e| / max(|e|, floor)` over all elements.
public func maxRelativeError(_ actual: Tensor, _ expected: Tensor, floor: Float = 1e-3) -> Float {
    precondition(actual.shape == expected.shape, "maxRelativeError: \(actual.shape) vs \(expected.shape)")
    var worst: Float = 0
    for i in 0..<actual.count {
        let e = expected.scalars[i]
        worst = max(worst, abs(actual.scalars[i] - e) / max(abs(e), floor))
    }
    return worst
}
