import Testing
import ModelMath
import TensorCore

/// Central finite differences of a scalar function of one tensor, evaluated in Double:
///
/// ```
/// ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h
/// ```
///
/// `loss` must compute its sum in Double (Float sums lose the small differences).
public func numericalGradient(
    of loss: (Tensor) -> Double, at x: Tensor, step h: Float = 1e-2
) -> Tensor {
    var grad = Tensor(shape: x.shape)
    var probe = x
    for i in 0..<x.count {
        let original = probe.scalars[i]
        probe.scalars[i] = original + h
        let plus = loss(probe)
        probe.scalars[i] = original - h
        let minus = loss(probe)
        probe.scalars[i] = original
        // The step actually taken, after Float rounding of x ± h.
        let taken = Double(original + h) - Double(original - h)
        grad.scalars[i] = Float((plus - minus) / taken)
    }
    return grad
}

/// Checks an analytic gradient against ``numericalGradient(of:at:step:)``.
///
/// Passes when every element satisfies `|analytic − numeric| ≤ atol + rtol·|numeric|`.
public func gradientCheck(
    _ analytic: Tensor, of loss: (Tensor) -> Double, at x: Tensor,
    step h: Float = 1e-2, rtol: Float = 1e-2, atol: Float = 1e-3,
    _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let numeric = numericalGradient(of: loss, at: x, step: h)
    expectClose(analytic, numeric, rtol: rtol, atol: atol, "gradient check \(comment)", sourceLocation: sourceLocation)
}

/// A fixed random "upstream gradient" weighting: `L(y) = Σ y ⊙ w` in Double, so that
/// `dL/dy = w`. Turns any op's backward into a scalar loss for finite differences.
public func weightedSum(_ y: Tensor, _ w: Tensor) -> Double {
    precondition(y.shape == w.shape, "weightedSum: \(y.shape) vs \(w.shape)")
    var s = 0.0
    for i in 0..<y.count { s += Double(y.scalars[i]) * Double(w.scalars[i]) }
    return s
}

extension Tower {
    /// Test shorthand for the one entry point on tensors: ``Tower/adapt(on:policy:normalizer:workspace:)``
    /// on `f` `(S, H)` and `y` `(S)`.
    public func adapted(on f: Tensor, labels y: Tensor, policy: Adaptation, normalizer: Int? = nil,
                        workspace: inout TowerWorkspace) -> Tower {
        var fast = self
        TowerRows.with(f, labels: y) { fast.adapt(on: $0, policy: policy, normalizer: normalizer, workspace: &workspace) }
        return fast
    }
}
