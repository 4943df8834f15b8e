import TensorCore

/// The meta-gradient through a closed-form ridge head: MAML whose inner loop is
/// ``HeadSolver/ridge(l2:scale:)`` alone on a regression tower (R2-D2, Bertinetto et al., ICLR 2019, on
/// the MMoE towers). The solve is differentiated exactly, so meta-training teaches the hidden
/// layer (and, through `f_S`, `f_Q`, the bottom) a representation a per-user ridge regression can
/// use — the item factors of a matrix-factorisation fold-in — and the base head `θ_0` its prior.
///
/// With `J = [A | 1]` `(S, T+1)` the support rows' last-layer input (labelled rows only), `y` the
/// labels, `h = 2/n` the squared error's curvature (`L = (1/n) Σ (z − y)²`) and `λ` the L2 pull:
///
/// ```
/// P   = h JᵀJ + λ I                           (T+1, T+1)
/// θ*  = P⁻¹ (λ θ_0 + h Jᵀ y)                  the adapted head (what RidgeHead.solve computes)
/// g   = ∂L_Q/∂θ*,   v = P⁻¹ g,   r = y − J θ*
/// ∂L_Q/∂θ_0 = λ v
/// ∂L_Q/∂J   = h (r vᵀ − (J v) θ*ᵀ)            → its first T columns are ∂L_Q/∂A, back through
///                                              the hidden layers to θ_hidden and f_S
/// ```
enum RidgeMetaGradient {
    /// Whether `policy` on `tower` is a ridge head alone on the squared error, the case differentiated here.
    static func applies(to tower: Tower, policy: Adaptation) -> Bool {
        guard case .ridge = policy.head else { return false }
        return tower.kind == .regression && policy.loss == .pointwise && (policy.steps == 0 || policy.adapts.isEmpty)
    }

    static func compute(for tower: Tower, support: LabelledRows, query: LabelledRows, l2: Float, scale: RidgeScale,
                        queryNormalizer: Int?, workspace ws: inout TowerWorkspace) -> MetaGradient {
        let layerCount = tower.parameters.layers.count, last = layerCount - 1
        let n = TaskLoss.labelledCount(support.labels)
        let lambda = scale.meanLossL2(l2, rows: n)
        var adapted = tower
        var solve: Solve?
        if n > 0 {
            let design = Design(tower, support: support, workspace: &ws)
            if let s = Solve(design: design, theta0: headVector(tower.parameters), curvature: 2 / Double(n),
                             lambda: Double(lambda)) {
                setHead(&adapted.parameters, s.theta)
                solve = s
            }
        }
        let queryLoss = TowerObjective.gradient(adapted, input: query.features, labels: query.labels,
                                                normalizer: queryNormalizer, inputGradient: true, workspace: &ws)
        var g = ws.gradients!
        let dQuery = ws.dInput!
        var dSupport = Tensor(shape: support.features.shape)
        if let solve {
            let v = solve.solve(headVector(g))
            setHead(&g, v.map { Double(lambda) * $0 })
            let dHidden = solve.hiddenGradient(v)   // (S, T)
            if layerCount == 1 {
                dSupport.addScaled(dHidden, by: 1)
            } else {
                let body = MLPParameters(layers: Array(tower.parameters.layers[..<last]))
                var cache = MLPActivations()
                MLP.forward(body, input: support.features, activation: tower.activation, activatesLast: true, cache: &cache)
                var dBody = body.zeros()
                var dInput: Tensor? = dSupport
                MLP.backward(body, input: support.features, activation: tower.activation, activatesLast: true,
                             cache: &cache, dOutput: dHidden, gradients: &dBody, dInput: &dInput)
                dSupport = dInput!
                for l in 0..<last {
                    g.layers[l].weight.addScaled(dBody.layers[l].weight, by: 1)
                    g.layers[l].bias.addScaled(dBody.layers[l].bias, by: 1)
                }
            }
        }
        return MetaGradient(tower: g, support: dSupport, query: dQuery, rates: tower.rates.map { $0.zeros() },
                            queryLoss: queryLoss, differentiatesSupport: true)
    }

    /// The last layer as one vector `(w, b)`, `T+1`, in Double.
    static func headVector(_ p: MLPParameters) -> [Double] {
        let head = p.layers[p.layers.count - 1]
        return head.weight.scalars.map(Double.init) + [Double(head.bias.scalars[0])]
    }

    static func setHead(_ p: inout MLPParameters, _ theta: [Double]) {
        let last = p.layers.count - 1, t = theta.count - 1
        p.layers[last].weight.withUnsafeMutableBufferPointer { w in
            for c in 0..<t { w[c] = Float(theta[c]) }
        }
        p.layers[last].bias.scalars[0] = Float(theta[t])
    }

    /// The support rows' last-layer input `A` `(S, T)`, their labels and which rows are labelled.
    struct Design {
        var hidden: [Double]   // (S, T), row-major
        var labels: [Float]    // (S), NaN = unlabelled
        var rows: Int
        var width: Int

        init(_ tower: Tower, support: LabelledRows, workspace ws: inout TowerWorkspace) {
            let layerCount = tower.parameters.layers.count
            let a: Tensor
            if layerCount == 1 {
                a = support.features
            } else {
                MLP.forward(tower.parameters, input: support.features, activation: tower.activation, activatesLast: false,
                            cache: &ws.activations)
                a = ws.activations.outputs[layerCount - 2]
            }
            hidden = a.scalars.map(Double.init)
            labels = support.labels.scalars
            rows = a.shape[0]
            width = a.shape[1]
        }

        /// `J_r` of row `r`: `[A_r | 1]`.
        func row(_ r: Int) -> ArraySlice<Double> { hidden[(r * width)..<((r + 1) * width)] }
    }

    /// `P`, its solution `θ*` and what the backward pass needs.
    struct Solve {
        let design: Design
        let p: [Double]        // (T+1, T+1)
        let theta: [Double]    // θ*, (T+1)
        let curvature: Double  // h

        init?(design: Design, theta0: [Double], curvature h: Double, lambda: Double) {
            let m = design.width + 1
            var p = [Double](repeating: 0, count: m * m)
            var rhs = theta0.map { lambda * $0 }
            for r in 0..<design.rows where !design.labels[r].isNaN {
                let j = Array(design.row(r)) + [1]
                let y = Double(design.labels[r])
                for a in 0..<m {
                    rhs[a] += h * j[a] * y
                    for b in 0..<m { p[a * m + b] += h * j[a] * j[b] }
                }
            }
            for a in 0..<m { p[a * m + a] += lambda }
            guard let theta = Cholesky.solve(p, rhs, size: m) else { return nil }
            (self.design, self.p, self.theta, self.curvature) = (design, p, theta, h)
        }

        /// `P⁻¹ g` (`P` is positive definite: it was factorised once already).
        func solve(_ g: [Double]) -> [Double] { Cholesky.solve(p, g, size: theta.count)! }

        /// `∂L_Q/∂A = (h (r vᵀ − (J v) θ*ᵀ))[:, :T]` on labelled rows, 0 on the others, `(S, T)`.
        func hiddenGradient(_ v: [Double]) -> Tensor {
            let t = design.width
            var out = Tensor(shape: [design.rows, t])
            out.withUnsafeMutableBufferPointer { d in
                for r in 0..<design.rows where !design.labels[r].isNaN {
                    let j = design.row(r)
                    var z = theta[t], jv = v[t]
                    for (c, a) in zip(0..<t, j) { z += a * theta[c]; jv += a * v[c] }
                    let residual = Double(design.labels[r]) - z
                    for c in 0..<t { d[r * t + c] = Float(curvature * (residual * v[c] - jv * theta[c])) }
                }
            }
            return out
        }
    }
}
