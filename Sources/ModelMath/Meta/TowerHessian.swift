import TensorCore

/// Exact Hessian-vector products of a tower's loss by Pearlmutter's R-operator (Pearlmutter
/// 1994): forward-mode along a direction `v` in parameter space, then reverse mode over both
/// the primal and the tangent pass. For the scalar
///
/// ```
/// ψ(θ, f) = ⟨∇θ L(θ; f, y), v⟩
/// ∇θ ψ = ∇²θθ L · v          (the HVP the second-order meta-gradient needs)
/// ∇f ψ = ∇²fθ L · v          (how the support rows' f_S move the inner step: reaches φ)
/// ```
///
/// Per layer `l` (a_0 = f, z_l = a_l W_l + b_l, a_{l+1} = σ(z_l), last layer linear):
/// ```
/// tangent:   ż_l = ȧ_l W_l + a_l V_l + c_l       ȧ_{l+1} = σ'(z_l) ⊙ ż_l       ȧ_0 = 0
/// seeds:     ż̄_L = ∂L/∂z_L                        z̄_L = H_z ż_L        (``InnerLoss``: pointwise ℓ'/n, ℓ''/n; ranking terms)
/// reverse:   dW_l = a_lᵀ z̄_l + ȧ_lᵀ ż̄_l           db_l = Σ_rows z̄_l
///            ā_l = z̄_l W_lᵀ + ż̄_l V_lᵀ            ǡ_l = ż̄_l W_lᵀ
///            ż̄_{l−1} = σ' ⊙ ǡ_l                  z̄_{l−1} = σ' ⊙ ā_l + σ'' ⊙ ż_{l−1} ⊙ ǡ_l
/// ```
/// `v = (V_l, c_l)`. ReLU has σ'' = 0 almost everywhere; tanh σ' = 1 − a², σ'' = −2a(1 − a²).
package enum TowerHessian {
    /// `(∇²θθ L · v, ∇²fθ L · v)` at `(θ, f)`; shapes of the tower and `(S, H)`.
    package static func hessianVectorProduct(
        _ head: Tower, input f: Tensor, labels y: Tensor, loss: InnerLoss = .pointwise,
        normalizer: Int? = nil, direction v: MLPParameters
    ) -> (hessianVector: MLPParameters, inputGradient: Tensor) {
        let tower = head.parameters, activation = head.activation
        let n = normalizer ?? TaskLoss.labelledCount(y)
        var hv = tower.zeros()
        var mixed = Tensor(shape: f.shape)
        guard n > 0 else { return (hv, mixed) }
        let layerCount = tower.layers.count, rows = f.shape[0]

        var cache = MLPActivations()
        MLP.forward(tower, input: f, activation: activation, activatesLast: false, cache: &cache)
        // a[l]: input of layer l; a[layerCount] = logits.
        let a = [f] + cache.outputs

        // Tangent forward pass.
        var zDot: [Tensor] = []
        var aDot: [Tensor] = [Tensor(shape: f.shape)]
        for l in 0..<layerCount {
            var z = Tensor(shape: [rows, tower.layers[l].outputs])
            z.addToRows(v.layers[l].bias)
            GEMM.multiply(aDot[l], tower.layers[l].weight, into: &z, beta: 1)
            GEMM.multiply(a[l], v.layers[l].weight, into: &z, beta: 1)
            zDot.append(z)
            if l < layerCount - 1 { aDot.append(derivative(activation, output: a[l + 1]) .* z) }
        }

        // Seeds from the inner loss: its logit gradient and Hessian along ż (rows without a label get 0).
        let logits = a[layerCount]
        var zBar = Tensor(shape: logits.shape), zDotBar = Tensor(shape: logits.shape)
        logits.withUnsafeBufferPointer { z in
            y.withUnsafeBufferPointer { y in
                zDot[layerCount - 1].withUnsafeBufferPointer { direction in
                    _ = zDotBar.withUnsafeMutableBufferPointer { first in
                        loss.logitGradient(kind: head.kind, logits: z.baseAddress!, rows: rows, labels: y.baseAddress!,
                                           labelStride: 1, normalizer: n, into: first.baseAddress!)
                    }
                    zBar.withUnsafeMutableBufferPointer { second in
                        loss.addLogitHessianVector(kind: head.kind, logits: z.baseAddress!, rows: rows, labels: y.baseAddress!,
                                                   labelStride: 1, normalizer: n, direction: direction.baseAddress!,
                                                   into: second.baseAddress!)
                    }
                }
            }
        }

        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let w = tower.layers[l].weight, vw = v.layers[l].weight
            GEMM.multiply(a[l], transposed: true, zBar, into: &hv.layers[l].weight, beta: 1)
            GEMM.multiply(aDot[l], transposed: true, zDotBar, into: &hv.layers[l].weight, beta: 1)
            zBar.accumulateColumnSums(into: &hv.layers[l].bias)
            var aBar = Tensor(shape: a[l].shape), aDotBar = Tensor(shape: a[l].shape)
            GEMM.multiply(zBar, transposed: false, w, transposed: true, into: &aBar)
            GEMM.multiply(zDotBar, transposed: false, vw, transposed: true, into: &aBar, beta: 1)
            GEMM.multiply(zDotBar, transposed: false, w, transposed: true, into: &aDotBar)
            if l == 0 {
                mixed = aBar
            } else {
                let s1 = derivative(activation, output: a[l]), s2 = secondDerivative(activation, output: a[l])
                zDotBar = s1 .* aDotBar
                zBar = s1 .* aBar + (s2 .* zDot[l - 1]) .* aDotBar
            }
        }
        return (hv, mixed)
    }

    /// `σ'(z)` written in terms of the output `a = σ(z)`.
    static func derivative(_ activation: Activation, output a: Tensor) -> Tensor {
        switch activation {
        case .relu: a.map { $0 > 0 ? 1 : 0 }
        case .tanh: a.map { 1 - $0 * $0 }
        }
    }

    /// `σ''(z)` written in terms of the output `a = σ(z)`.
    static func secondDerivative(_ activation: Activation, output a: Tensor) -> Tensor {
        switch activation {
        case .relu: Tensor(shape: a.shape)
        case .tanh: a.map { -2 * $0 * (1 - $0 * $0) }
        }
    }
}
