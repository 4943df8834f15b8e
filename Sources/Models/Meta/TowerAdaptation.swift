import TensorCore

/// The MAML inner loop (Finn et al. 2017) on one tower — the single function that training,
/// evaluation and serving all call, so a user's tower is fine-tuned identically everywhere:
///
/// ```
/// θ_0 = θ;   θ_{t+1} = θ_t − α ∇θ L(θ_t; f_S, y_S)    t = 0 … k−1;   returns θ_k
/// ```
/// Only the tower adapts; embeddings, experts and gates (which produced `f_S`) stay fixed
/// (ANIL-style head adaptation, Raghu et al. 2020, on the MMoE towers).
public struct TowerAdaptation: Sendable, Equatable {
    /// `k`: inner SGD steps (0 = no adaptation).
    public var steps: Int
    /// `α`: inner learning rate.
    public var learningRate: Float

    public init(steps: Int, learningRate: Float) {
        precondition(steps >= 0, "TowerAdaptation: steps must be >= 0, got \(steps)")
        self.steps = steps
        self.learningRate = learningRate
    }
}

extension MLPParameters {
    /// This tower after `adaptation.steps` SGD steps on the support loss.
    ///
    /// - Parameters:
    ///   - support: `(S, H)` meta-layer inputs of the support rows.
    ///   - labels: `(S)` their labels (NaN = missing, ignored).
    ///   - normalizer: the `n` of the support loss; defaults to the labelled count ("num").
    /// - Returns: the adapted tower; `self` unchanged when `S = 0` or no label is present.
    public func adapted(
        on support: Tensor, labels: Tensor, kind: TaskKind, activation: Activation,
        adaptation: TowerAdaptation, normalizer: Int? = nil, workspace ws: inout TowerWorkspace
    ) -> MLPParameters {
        var fast = self
        fast.adapt(on: support, labels: labels, kind: kind, activation: activation, adaptation: adaptation,
                   normalizer: normalizer, workspace: &ws)
        return fast
    }

    /// In-place form of ``adapted(on:labels:kind:activation:adaptation:normalizer:workspace:)``.
    public mutating func adapt(
        on support: Tensor, labels: Tensor, kind: TaskKind, activation: Activation,
        adaptation: TowerAdaptation, normalizer: Int? = nil, workspace ws: inout TowerWorkspace
    ) {
        let n = normalizer ?? TaskLoss.labelledCount(labels)
        guard n > 0, adaptation.steps > 0 else { return }
        for _ in 0..<adaptation.steps {
            TowerObjective.gradient(self, input: support, labels: labels, kind: kind, activation: activation,
                                    normalizer: n, inputGradient: false, workspace: &ws)
            for l in layers.indices {
                layers[l].weight.addScaled(ws.gradients!.layers[l].weight, by: -adaptation.learningRate)
                layers[l].bias.addScaled(ws.gradients!.layers[l].bias, by: -adaptation.learningRate)
            }
        }
    }
}
