import TensorCore

/// How a tower adapts to one task's support rows: the policy of the MAML inner loop (Finn et al.
/// 2017), bound once and used by training's inner loop, evaluation and serving alike
/// (learn2learn's `MAML(model, lr, first_order)` shape; every variant is a field here, never
/// another entry point):
///
/// ```
/// θ_0 = θ;   θ_{t+1} = θ_t − α (M ⊙ ρ) ⊙ ∇θ L(θ_t; f_S, y_S)     t = 0 … k−1
/// head .ridge(λ):  (w, b) of the last layer ← one Newton step on L + (λ/2)‖Δ‖²  (exact ridge for MSE)
///                   (scale .sum: L + (λ/2n)‖Δ‖², i.e. n·L + (λ/2)‖Δ‖² over the n labelled support rows)
/// ```
/// `L` is ``InnerLoss`` (pointwise, pairwise, listwise); `M` masks the layers that do not adapt
/// (``AdaptedLayers``); `ρ` is the tower's Meta-SGD rates (Li et al. 2017), 1 without them. Only
/// towers adapt; embeddings, experts and gates, which produce `f_S`, stay fixed (ANIL-style head
/// adaptation, Raghu et al. 2020, on the MMoE towers).
public struct Adaptation: Sendable, Equatable, Hashable {
    /// `k`: inner SGD steps (0 = none; a ridge head is still solved).
    public var steps: Int
    /// `α`: inner learning rate.
    public var learningRate: Float
    /// The support-set loss `L`.
    public var loss: InnerLoss
    /// Which tower layers the SGD steps move.
    public var adapts: AdaptedLayers
    /// How the last layer is fitted after the steps.
    public var head: HeadSolver

    public init(steps: Int, learningRate: Float, loss: InnerLoss = .pointwise, adapts: AdaptedLayers = .all,
                head: HeadSolver = .gradient) {
        precondition(steps >= 0, "Adaptation: steps must be >= 0, got \(steps)")
        if case .ridge(let l2, _) = head { precondition(l2 > 0, "Adaptation: the ridge head needs l2 > 0, got \(l2)") }
        self.steps = steps
        self.learningRate = learningRate
        self.loss = loss
        self.adapts = adapts
        self.head = head
    }

    /// Whether this policy changes a tower at all.
    public var isIdentity: Bool { (steps == 0 || adapts.isEmpty) && head == .gradient }
}

/// The tower layers an inner SGD step moves.
public struct AdaptedLayers: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Every layer but the last (for `H → T → 1` towers: `W1`, `b1`, which mix the item-side
    /// input `f`, so a step on them can re-order a user's candidates).
    public static let hidden = AdaptedLayers(rawValue: 1)
    /// The last (logit) layer.
    public static let output = AdaptedLayers(rawValue: 2)
    public static let all: AdaptedLayers = [.hidden, .output]

    /// Whether layer `l` of `count` layers adapts.
    @inlinable public func adapts(layer l: Int, of count: Int) -> Bool {
        contains(l == count - 1 ? .output : .hidden)
    }
}

/// How the last tower layer is fitted to the support rows.
public enum HeadSolver: Sendable, Equatable, Hashable {
    /// By the SGD steps only.
    case gradient
    /// In closed form after the steps: one Newton step of the inner loss on `(w, b)` of the last
    /// layer with an L2 pull `λ` toward their current values (Bertinetto et al., ICLR 2019, on our
    /// towers). For the squared error this is the exact ridge solution; a `(T+1) × (T+1)` solve.
    /// `scale` says what `λ` is weighed against (``RidgeScale``).
    case ridge(l2: Float, scale: RidgeScale = .mean)
    /// After the steps, the last layer's bias alone fitted to the support rows by the task's
    /// pointwise loss (squared error: the mean residual; BCE: Newton's method in one variable).
    /// A ranking inner loss leaves a user's offset free; this puts it back on the label's scale
    /// without changing the order the steps produced.
    case offset
}

/// What the ridge head's `λ` is weighed against; `n` is the inner loss's normaliser (the
/// labelled support rows, the "num" normalisation, unless a caller passes another).
///
/// `sum` is matrix factorisation's fold-in for the pointwise squared error only. For BCE the head
/// is one undamped Newton step, whose pull `λ/n` fades for a heavy user (the serving fallback's
/// weight-change bound catches an outsized step); for the ranking losses `L` is a mean over pairs
/// or a list, so `n·L` is not a sum over rows.
public enum RidgeScale: Sendable, Equatable, Hashable {
    /// The mean loss: `L + (λ/2)‖Δ‖²`. The pull toward the meta-learned head is the same for a
    /// user with 5 rows and one with 500: a heavy user's head moves no further than a light one's.
    case mean
    /// The summed loss: `n·L + (λ/2)‖Δ‖²`, i.e. `λ/n` against the mean loss. The pull fades as
    /// the support grows, as in a per-user ridge fold-in of matrix factorisation
    /// (`Σ (z − y)² + (λ/2)‖Δ‖²` for the squared error), or a Gaussian prior's posterior mean.
    case sum

    /// `λ` against the mean loss over `n` rows.
    @inlinable public func meanLossL2(_ l2: Float, rows n: Int) -> Float {
        switch self {
        case .mean: l2
        case .sum: l2 / Float(max(n, 1))
        }
    }
}
