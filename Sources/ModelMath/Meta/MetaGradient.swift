import TensorCore

/// Whether the meta-gradient keeps second derivatives.
public enum MetaOrder: String, Sendable, Equatable, Codable {
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

    /// Computes the meta-gradient; `workspace` is scratch for the tower passes.
    /// - Parameter rates: the tower's `ρ`, or nil for plain MAML.
    public static func compute(
        tower: MLPParameters, kind: TaskKind, activation: Activation,
        support: Tensor, supportLabels: Tensor, query: Tensor, queryLabels: Tensor,
        adaptation: TowerAdaptation, order: MetaOrder, queryNormalizer: Int? = nil, rates: MLPParameters? = nil,
        workspace ws: inout TowerWorkspace
    ) -> MetaGradient {
        let alpha = adaptation.learningRate
        // Inner loop, keeping every θ_t for the second-order backward pass and, with rates,
        // every support gradient s_t for dρ.
        var iterates = [tower]
        var supportGradients: [MLPParameters] = []
        let supportCount = TaskLoss.labelledCount(supportLabels)
        if supportCount > 0 {
            for _ in 0..<adaptation.steps {
                var next = iterates[iterates.count - 1]
                if let rates {
                    TowerObjective.gradient(next, input: support, labels: supportLabels, kind: kind, activation: activation,
                                            normalizer: supportCount, inputGradient: false, workspace: &ws)
                    supportGradients.append(ws.gradients!)
                    next.descend(along: ws.gradients!, learningRate: alpha, rates: rates)
                } else {
                    next.adapt(on: support, labels: supportLabels, kind: kind, activation: activation,
                               adaptation: TowerAdaptation(steps: 1, learningRate: alpha),
                               normalizer: supportCount, workspace: &ws)
                }
                iterates.append(next)
            }
        }
        let adapted = iterates[iterates.count - 1]
        let queryLoss = TowerObjective.gradient(adapted, input: query, labels: queryLabels, kind: kind, activation: activation,
                                                normalizer: queryNormalizer, inputGradient: true, workspace: &ws)
        var g = ws.gradients!
        let dQuery = ws.dInput!
        var dSupport = Tensor(shape: support.shape)
        var dRates = rates.map { $0.zeros() }
        if order == .second && iterates.count > 1 {
            for t in stride(from: iterates.count - 2, through: 0, by: -1) {
                // g holds g_{t+1} here.
                dRates?.addProduct(g, supportGradients[t], scale: -alpha)
                let direction = rates.map { g.product($0) } ?? g
                let (hv, mixed) = TowerHessian.hessianVectorProduct(
                    iterates[t], input: support, labels: supportLabels, kind: kind, activation: activation,
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
        return MetaGradient(tower: g, support: dSupport, query: dQuery, rates: dRates, queryLoss: queryLoss)
    }
}
