import TensorCore

/// Whether the meta-gradient keeps second derivatives.
public enum MetaOrder: String, Sendable, Equatable, Codable, CaseIterable {
    /// First-order MAML: `∂θ'/∂θ ≈ I`; the meta-gradient is the query gradient at θ'.
    case first
    /// Full MAML: back-propagates through every inner step with exact Hessian-vector products.
    case second
}

/// The MAML meta-gradient of one task on one tower (Finn et al. 2017), with Meta-SGD rate
/// multipliers `ρ` (Li et al. 2017; `ρ = 1` without them):
///
/// ```
/// s_t     = ∇θ L_S(θ_t; f_S),   θ_{t+1} = θ_t − α ρ ⊙ s_t          t = 0 … k−1,  θ' = θ_k
/// L_meta  = L_Q(θ'; f_Q)
/// g_k     = ∇θ L_Q(θ_k),   df_Q = ∇f L_Q(θ_k)
/// second order, t = k−1 … 0:   dρ  −= α g_{t+1} ⊙ s_t
///                              g_t  = g_{t+1} − α ∇²θθ L_S(θ_t) (ρ ⊙ g_{t+1})
///                              df_S −= α ∇²fθ L_S(θ_t) (ρ ⊙ g_{t+1})
/// first order:   g_0 = g_k,    df_S = 0,    dρ = −α g_k ⊙ Σ_t s_t
/// ```
/// `∂L_meta/∂θ = g_0`, `∂L_meta/∂ρ = dρ`; `df_S`, `df_Q` carry the meta-gradient into the
/// shared bottom (φ).
public struct MetaGradient: Sendable {
    /// `∂L_meta/∂θ`, shaped like the tower.
    public var tower: MLPParameters
    /// `∂L_meta/∂f_S`, `(S, H)` (zero for first order).
    public var support: Tensor
    /// `∂L_meta/∂f_Q`, `(Q, H)`.
    public var query: Tensor
    /// `∂L_meta/∂ρ`, shaped like the tower; nil without rate multipliers.
    public var rates: MLPParameters?
    /// `L_Q(θ')`.
    public var queryLoss: Double
    /// Whether ``support`` carries a gradient (second order, or a differentiated ridge head);
    /// false means it is zero and callers may skip it.
    public var differentiatesSupport: Bool = false

    /// Computes the meta-gradient of `tower` adapted on `support` under `policy` (the same inner
    /// loop as ``Tower/adapt(on:policy:normalizer:workspace:)``) and evaluated on `query` with the
    /// task's pointwise loss; `workspace` is scratch for the tower passes.
    ///
    /// A ``HeadSolver/ridge(l2:scale:)`` head alone (no SGD steps) on a regression tower with the
    /// pointwise loss is differentiated exactly, whatever `order` (``RidgeMetaGradient``: there is
    /// no step to approximate). After SGD steps, or on other losses, a closed-form head is treated
    /// as a constant of the meta-gradient, which is first-order MAML's approximation; second
    /// order then needs ``HeadSolver/gradient``.
    public static func compute(
        for tower: Tower, support: LabelledRows, query: LabelledRows, policy: Adaptation, order: MetaOrder,
        queryNormalizer: Int? = nil, workspace ws: inout TowerWorkspace
    ) -> MetaGradient {
        if case .ridge(let l2, let scale) = policy.head, RidgeMetaGradient.applies(to: tower, policy: policy) {
            return RidgeMetaGradient.compute(for: tower, support: support, query: query, l2: l2, scale: scale,
                                             queryNormalizer: queryNormalizer, workspace: &ws)
        }
        precondition(order == .first || policy.head == .gradient,
                     "MetaGradient: second-order MAML differentiates SGD steps only; a closed-form head needs order .first")
        let alpha = policy.learningRate
        // Inner loop, keeping every θ_t for the second-order backward pass and, with rates,
        // every support gradient s_t for dρ.
        var iterates = [tower]
        var supportGradients: [MLPParameters] = []
        let supportCount = TaskLoss.labelledCount(support.labels)
        let steps = supportCount > 0 && !policy.adapts.isEmpty ? policy.steps : 0
        var oneStep = policy
        (oneStep.steps, oneStep.head) = (1, .gradient)
        for _ in 0..<steps {
            var next = iterates[iterates.count - 1]
            if let rates = tower.rates {
                TowerObjective.gradient(next, input: support.features, labels: support.labels, loss: policy.loss,
                                        normalizer: supportCount, inputGradient: false, workspace: &ws)
                ws.gradients!.zeroLayers(except: policy.adapts)
                supportGradients.append(ws.gradients!)
                next.parameters.descend(along: ws.gradients!, learningRate: alpha, rates: rates)
            } else {
                TowerRows.with(support.features, labels: support.labels) { rows in
                    next.adapt(on: rows, policy: oneStep, normalizer: supportCount, workspace: &ws)
                }
            }
            iterates.append(next)
        }
        var adapted = iterates[iterates.count - 1]
        if policy.head != .gradient, supportCount > 0 {
            var headOnly = policy
            headOnly.steps = 0
            TowerRows.with(support.features, labels: support.labels) { rows in
                adapted.adapt(on: rows, policy: headOnly, normalizer: supportCount, workspace: &ws)
            }
        }
        let queryLoss = TowerObjective.gradient(adapted, input: query.features, labels: query.labels,
                                                normalizer: queryNormalizer, inputGradient: true, workspace: &ws)
        var g = ws.gradients!
        let dQuery = ws.dInput!
        var dSupport = Tensor(shape: support.features.shape)
        var dRates = tower.rates.map { $0.zeros() }
        if order == .second && iterates.count > 1 {
            for t in stride(from: iterates.count - 2, through: 0, by: -1) {
                // g holds g_{t+1} here; the step moved θ by −α (M ⊙ ρ) ⊙ s_t.
                if tower.rates != nil { dRates!.addProduct(g, supportGradients[t], scale: -alpha) }
                var direction = tower.rates.map { g.product($0) } ?? g
                direction.zeroLayers(except: policy.adapts)
                let (hv, mixed) = TowerHessian.hessianVectorProduct(
                    iterates[t], input: support.features, labels: support.labels, loss: policy.loss,
                    normalizer: supportCount, direction: direction)
                for l in g.layers.indices {
                    g.layers[l].weight.addScaled(hv.layers[l].weight, by: -alpha)
                    g.layers[l].bias.addScaled(hv.layers[l].bias, by: -alpha)
                }
                dSupport.addScaled(mixed, by: -alpha)
            }
        } else {
            for s in supportGradients { dRates?.addProduct(g, s, scale: -alpha) }
        }
        return MetaGradient(tower: g, support: dSupport, query: dQuery, rates: dRates, queryLoss: queryLoss,
                            differentiatesSupport: order == .second && iterates.count > 1)
    }
}

/// A task's rows as tensors: `features` `(S, H)` meta-layer inputs, `labels` `(S)` (NaN = missing).
public struct LabelledRows: Sendable {
    public var features: Tensor
    public var labels: Tensor

    public init(features: Tensor, labels: Tensor) {
        precondition(features.rank == 2 && features.shape[0] == labels.count,
                     "LabelledRows: features \(features.shape) vs labels \(labels.shape)")
        self.features = features
        self.labels = labels
    }
}
