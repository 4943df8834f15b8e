import TensorCore

/// The closed-form head of ``HeadSolver/ridge(l2:scale:)``: the last tower layer `(w, b)` fitted to the
/// support rows by one Newton step of the inner loss with an L2 pull toward its current value
/// (the closed-form-solver idea of Bertinetto et al., ICLR 2019, on the MMoE towers):
///
/// ```
/// J   = [A | 1]                    (S, T+1)   A: the last layer's input on the support rows
/// g   = Jᵀ ∂L/∂z                    (T+1)
/// Hs  = Jᵀ H_z J + λ I              (T+1, T+1) H_z: the inner loss's Hessian in the logits
/// (w, b) ← (w, b) − Hs⁻¹ g
/// ```
/// For the squared error `L = (1/n) Σ (z − y)²` this is the exact minimiser of
/// `L + (λ/2)‖Δ‖²`, i.e. a per-user ridge regression of the labels on `A` (a fold-in over the
/// tower's hidden representation); for BCE and the ranking losses it is one Newton step. The
/// solve is a Cholesky factorisation in Double; a matrix that is not positive definite (never
/// for `λ > 0` and a convex loss) leaves the head unchanged.
enum RidgeHead {
    static func solve(_ tower: inout Tower, on rows: TowerRows, loss: InnerLoss, normalizer n: Int, l2: Float,
                      workspace ws: inout TowerWorkspace) {
        let layerCount = tower.parameters.layers.count, s = rows.count
        guard s > 0 else { return }
        ws.stage(rows, width: tower.parameters.inputWidth)
        MLP.forward(tower.parameters, input: ws.stagedInput, activation: tower.activation, activatesLast: false,
                    cache: &ws.activations)
        let hidden = layerCount >= 2 ? ws.activations.outputs[layerCount - 2] : ws.stagedInput   // (S, T)
        let t = hidden.shape[1], m = t + 1
        let logits = ws.activations.result
        var d = [Float](repeating: 0, count: s), v = [Float](repeating: 0, count: s), u = [Float](repeating: 0, count: s)
        var gradient = [Double](repeating: 0, count: m), hessian = [Double](repeating: 0, count: m * m)
        hidden.withUnsafeBufferPointer { a in
            logits.withUnsafeBufferPointer { z in
                ws.stagedLabels.withUnsafeBufferPointer { y in
                    let j = { (row: Int, column: Int) -> Float in column == t ? 1 : a[row * t + column] }
                    loss.logitGradient(kind: tower.kind, logits: z.baseAddress!, rows: s, labels: y.baseAddress!,
                                       labelStride: 1, normalizer: n, into: &d)
                    for c in 0..<m {
                        for r in 0..<s { gradient[c] += Double(j(r, c) * d[r]) }
                        for r in 0..<s { v[r] = j(r, c); u[r] = 0 }
                        loss.addLogitHessianVector(kind: tower.kind, logits: z.baseAddress!, rows: s, labels: y.baseAddress!,
                                                   labelStride: 1, normalizer: n, direction: v, into: &u)
                        for r in 0..<m {
                            var sum = 0.0
                            for q in 0..<s { sum += Double(j(q, r) * u[q]) }
                            hessian[r * m + c] = sum
                        }
                    }
                }
            }
        }
        for c in 0..<m { hessian[c * m + c] += Double(l2) }
        guard let step = Cholesky.solve(hessian, gradient, size: m) else { return }
        let last = layerCount - 1
        tower.parameters.layers[last].weight.withUnsafeMutableBufferPointer { w in
            for c in 0..<t { w[c] -= Float(step[c]) }
        }
        tower.parameters.layers[last].bias.scalars[0] -= Float(step[t])
    }
}

/// `x = M⁻¹ b` for a symmetric positive-definite `M` `(n, n)`, row-major, in Double; nil when `M`
/// is not positive definite (a non-positive pivot).
enum Cholesky {
    static func solve(_ m: [Double], _ b: [Double], size n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = m[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        var y = b
        for i in 0..<n {
            for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
            y[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for k in (i + 1)..<n { y[i] -= l[k * n + i] * y[k] }
            y[i] /= l[i * n + i]
        }
        return y
    }
}
