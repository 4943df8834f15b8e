import TensorCore

/// The MAML inner loop (Finn et al. 2017) on one tower — the single function that training,
/// evaluation and serving all call, so a user's tower is fine-tuned identically everywhere:
///
/// ```
/// θ_0 = θ;   θ_{t+1} = θ_t − α ρ ⊙ ∇θ L(θ_t; f_S, y_S)    t = 0 … k−1;   returns θ_k
/// ```
/// `ρ` is the tower's Meta-SGD rate multipliers (Li et al. 2017), learned with the model when
/// `meta.learn_inner_rates` is on; without them `ρ = 1` (plain MAML).
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
    ///   - rates: `ρ`, shaped like the tower; nil = 1.
    /// - Returns: the adapted tower; `self` unchanged when `S = 0` or no label is present.
    public func adapted(
        on support: Tensor, labels: Tensor, kind: TaskKind, activation: Activation,
        adaptation: TowerAdaptation, normalizer: Int? = nil, rates: MLPParameters? = nil, workspace ws: inout TowerWorkspace
    ) -> MLPParameters {
        var fast = self
        fast.adapt(on: support, labels: labels, kind: kind, activation: activation, adaptation: adaptation,
                   normalizer: normalizer, rates: rates, workspace: &ws)
        return fast
    }

    /// In-place form of ``adapted(on:labels:kind:activation:adaptation:normalizer:workspace:)``.
    ///
    /// Towers of one hidden layer and one output (`H → T → 1`, every config's towers) take the
    /// fused path (``TwoLayerTower``): the same steps, two GEMMs and one element-wise pass each way.
    public mutating func adapt(
        on support: Tensor, labels: Tensor, kind: TaskKind, activation: Activation,
        adaptation: TowerAdaptation, normalizer: Int? = nil, rates: MLPParameters? = nil, workspace ws: inout TowerWorkspace
    ) {
        let n = normalizer ?? TaskLoss.labelledCount(labels)
        guard n > 0, adaptation.steps > 0 else { return }
        if TwoLayerTower.applies(to: self), support.rank == 2, support.shape[0] == labels.count, labels.count > 0 {
            let width = support.shape[1]
            support.withUnsafeBufferPointer { f in
                labels.withUnsafeBufferPointer { y in
                    adapt(rows: labels.count, features: f.baseAddress!, featureStride: width, labels: y.baseAddress!,
                          labelStride: 1, kind: kind, activation: activation, adaptation: adaptation, normalizer: n,
                          rates: rates, workspace: &ws)
                }
            }
            return
        }
        for _ in 0..<adaptation.steps {
            TowerObjective.gradient(self, input: support, labels: labels, kind: kind, activation: activation,
                                    normalizer: n, inputGradient: false, workspace: &ws)
            descend(along: ws.gradients!, learningRate: adaptation.learningRate, rates: rates)
        }
    }

    /// `θ ← θ − α·ρ ⊙ g` (`ρ` nil: `θ ← θ − α·g`), tensor by tensor.
    public mutating func descend(along g: MLPParameters, learningRate alpha: Float, rates: MLPParameters?) {
        guard let rates else {
            for l in layers.indices {
                layers[l].weight.addScaled(g.layers[l].weight, by: -alpha)
                layers[l].bias.addScaled(g.layers[l].bias, by: -alpha)
            }
            return
        }
        addProduct(rates, g, scale: -alpha)
    }

    /// ``adapt(on:labels:kind:activation:adaptation:normalizer:workspace:)`` on support rows read
    /// through strides, so a task's column block of `(S, K·H)` support rows needs no copy:
    /// row `s` of `f_S` is `features[s·featureStride ..< s·featureStride + H]`, its label
    /// `labels[s·labelStride]` (NaN = missing).
    public mutating func adapt(
        rows: Int, features: UnsafePointer<Float>, featureStride: Int, labels: UnsafePointer<Float>, labelStride: Int,
        kind: TaskKind, activation: Activation, adaptation: TowerAdaptation, normalizer: Int? = nil,
        rates: MLPParameters? = nil, workspace ws: inout TowerWorkspace
    ) {
        let width = inputWidth
        precondition(rows >= 0 && featureStride >= width && labelStride >= 1,
                     "adapt: rows \(rows), featureStride \(featureStride) (H = \(width)), labelStride \(labelStride)")
        let n = normalizer ?? TaskLoss.labelledCount(labels, count: rows, stride: labelStride)
        guard n > 0, adaptation.steps > 0, rows > 0 else { return }
        guard TwoLayerTower.applies(to: self) else {
            // The generic path runs on tensors: stage the rows once.
            ws.stage(rows: rows, width: width, features: features, featureStride: featureStride)
            ws.stagedLabels.resize(count: rows)
            ws.stagedLabels.withUnsafeMutableBufferPointer { y in
                for s in 0..<rows { y[s] = labels[s * labelStride] }
            }
            let (input, staged) = (ws.stagedInput, ws.stagedLabels)
            adapt(on: input, labels: staged, kind: kind, activation: activation, adaptation: adaptation,
                  normalizer: n, rates: rates, workspace: &ws)
            return
        }
        TwoLayerTower.adapt(&self, steps: adaptation.steps, features: features, rows: rows, ldf: featureStride,
                            labels: labels, ldy: labelStride, kind: kind, activation: activation, scale: 1 / Float(n),
                            learningRate: adaptation.learningRate, rates: rates, scratch: &ws.twoLayer)
    }
}
