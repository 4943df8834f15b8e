import TensorCore

/// The fused path of the tower shape every config in MetaRec uses, one hidden layer and one
/// output (`H → T → 1`): an inner-loop SGD step and scoring as two GEMMs and one element-wise
/// pass each way (``TensorCore/TowerHead``), with no intermediate tensors. It computes exactly
/// the generic ``MLP`` forward/backward and ``TowerObjective`` math, up to float rounding
/// (checked against it in `TwoLayerTowerTests`):
///
/// ```
/// A   = act(F·W1 + b1)                F: (S, H)  W1: (H, T)  A: (S, T)
/// z   = A·w2 + b2                      (S)
/// d_s = ∂ℓ(z_s, y_s)/∂z_s / n          0 where y_s is missing; n = the normaliser ("num")
/// D   = (d w2ᵀ) ⊙ act'(A)              (S, T)
/// W1 ← W1 − α·FᵀD     b1 ← b1 − α·Σ_s D_s     w2 ← w2 − α·Aᵀd     b2 ← b2 − α·Σ_s d_s
/// ```
/// `W1 − α·FᵀD` is one GEMM with `alpha = −α, beta = 1` straight into the weights. With Meta-SGD
/// multipliers `ρ` every update is `− α·ρ ⊙ (gradient)`, and `FᵀD` goes through scratch first.
/// Matrices are read through a row stride, so a task's column block of the support store's
/// `(S, K·H)` rows or of the bottom's output needs no copy.
enum TwoLayerTower {
    /// Whether `tower` has the fused shape.
    static func applies(to tower: MLPParameters) -> Bool {
        tower.layers.count == 2 && tower.layers[1].outputs == 1
    }

    /// `scratch.logits = z` `(rows)` and, when `keepHidden`, `scratch.hidden = act(F·W1 + b1)`
    /// `(rows, T)` for the backward pass: one fused multiply, bias, activation and logit
    /// (``TensorCore/TowerHead/forward(x:rows:k:ldx:w1:width:b1:w2:b2:activation:hidden:ldh:keepHidden:logits:level:)``).
    static func forward(
        _ tower: MLPParameters, features f: UnsafePointer<Float>, rows: Int, ldf: Int, activation: Activation,
        keepHidden: Bool = true, scratch: inout TwoLayerScratch
    ) {
        // The layers are read in place (no `let layer = tower.layers[i]` copies, which cost a
        // retain and release of every tensor's storage per call).
        let h = tower.layers[0].inputs, t = tower.layers[0].outputs
        scratch.prepare(rows: rows, width: t)
        guard rows > 0 else { return }
        let b2 = tower.layers[1].bias.scalars[0]
        Borrow.update(&scratch.hidden, &scratch.logits) { a, z in
            Borrow.read(tower.layers[0].weight, tower.layers[0].bias, tower.layers[1].weight) { w1, b1, w2 in
                TowerHead.forward(x: f, rows: rows, k: h, ldx: ldf, w1: w1, width: t, b1: b1, w2: w2, b2: b2,
                                  activation: activation.head, hidden: a, ldh: t, keepHidden: keepHidden, logits: z)
            }
        }
    }

    /// `policy.steps` SGD steps of the inner loss on `rows`, in place (``Tower/adapt(on:policy:normalizer:workspace:)``).
    ///
    /// Plain steps (no rates, every layer adapts) borrow the weights' and the scratch's storage
    /// once for all the steps (``TensorCore/Borrow``), which then run on raw pointers: no
    /// retain/release or uniqueness check per tensor access and step.
    static func adapt(
        _ tower: inout MLPParameters, rows: TowerRows, policy: Adaptation, kind: TaskKind, activation: Activation,
        normalizer n: Int, rates: MLPParameters?, scratch: inout TwoLayerScratch
    ) {
        guard policy.steps > 0, rows.count > 0 else { return }
        if rates != nil || policy.adapts != .all {
            for _ in 0..<policy.steps {
                step(&tower, rows: rows, policy: policy, kind: kind, activation: activation, normalizer: n, rates: rates,
                     scratch: &scratch)
            }
            return
        }
        let h = tower.layers[0].inputs, t = tower.layers[0].outputs
        scratch.prepare(rows: rows.count, width: t)
        tower.layers.withUnsafeMutableBufferPointer { layers in
            Borrow.update(&layers[0].weight, &layers[0].bias, &layers[1].weight, &layers[1].bias) { w1, b1, w2, b2 in
                let weights = Weights(w1: w1, b1: b1, w2: w2, b2: b2, inputs: h, width: t)
                plainSteps(weights, rows: rows, policy: policy, kind: kind, activation: activation, normalizer: n,
                           scratch: &scratch)
            }
        }
    }

    /// `policy.steps` plain steps on borrowed weights; the scratch buffers are borrowed once for
    /// all of them.
    private static func plainSteps(
        _ weights: Weights, rows: TowerRows, policy: Adaptation, kind: TaskKind, activation: Activation,
        normalizer n: Int, scratch: inout TwoLayerScratch
    ) {
        Borrow.update(&scratch.hidden, &scratch.logits, &scratch.dLogits, &scratch.dw2, &scratch.db1) { a, z, d, dw2, db1 in
            let buffers = StepBuffers(hidden: a, logits: z, dLogits: d, dw2: dw2, db1: db1)
            for _ in 0..<policy.steps {
                plainStep(weights, buffers, rows: rows, loss: policy.loss, kind: kind, activation: activation,
                          normalizer: n, learningRate: policy.learningRate)
            }
        }
    }

    /// A tower's tensors as raw pointers: `W1` `(H, T)`, `b1`, `w2` `(T)`, `b2` `(1)`.
    struct Weights {
        let w1: UnsafeMutablePointer<Float>, b1: UnsafeMutablePointer<Float>
        let w2: UnsafeMutablePointer<Float>, b2: UnsafeMutablePointer<Float>
        let inputs: Int, width: Int
    }

    /// ``TwoLayerScratch``'s buffers as raw pointers, prepared for the support rows: `A` `(rows, T)`,
    /// `z`, `∂L/∂z` `(rows)`, the gradients of `w2` and `b1` `(T)`.
    struct StepBuffers {
        let hidden: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>
        let dLogits: UnsafeMutablePointer<Float>
        let dw2: UnsafeMutablePointer<Float>, db1: UnsafeMutablePointer<Float>
    }

    /// One plain SGD step on `weights`, with `buffers` as scratch.
    @inline(__always)
    private static func plainStep(
        _ weights: Weights, _ buffers: StepBuffers, rows support: TowerRows, loss: InnerLoss, kind: TaskKind,
        activation: Activation, normalizer n: Int, learningRate alpha: Float
    ) {
        let h = weights.inputs, t = weights.width
        let f = support.features, ldf = support.featureStride, rows = support.count
        let a = buffers.hidden, z = buffers.logits, d = buffers.dLogits, dw2 = buffers.dw2, db1 = buffers.db1
        TowerHead.forward(x: f, rows: rows, k: h, ldx: ldf, w1: weights.w1, width: t, b1: weights.b1,
                          w2: weights.w2, b2: weights.b2[0], activation: activation.head,
                          hidden: a, ldh: t, keepHidden: true, logits: z)
        let dBias2 = logitGradient(loss, kind: kind, logits: z, rows: support, normalizer: n, into: d)
        dw2.update(repeating: 0, count: t)
        db1.update(repeating: 0, count: t)
        TowerHead.backward(a, rows: rows, width: t, lda: t, activation: activation.head,
                           d: d, w2: weights.w2, dw2: dw2, db1: db1)
        // W1 ← W1 − α·FᵀD straight into the weights; then b1, w2, b2.
        GEMM.compute(m: h, n: t, k: rows, a: f, lda: ldf, transposeA: true, b: a, ldb: t,
                     c: weights.w1, ldc: t, alpha: -alpha, beta: 1)
        for j in 0..<t {
            weights.b1[j] -= alpha * db1[j]
            weights.w2[j] -= alpha * dw2[j]
        }
        weights.b2[0] -= alpha * dBias2
    }

    /// `d = ∂L/∂z` of the inner loss (``InnerLoss/logitGradient(kind:logits:rows:labels:labelStride:normalizer:into:)``,
    /// where each derivative rule is written once); returns `Σ_s d_s`, the gradient of `b2`.
    private static func logitGradient(
        _ loss: InnerLoss, kind: TaskKind, logits z: UnsafePointer<Float>, rows: TowerRows, normalizer n: Int,
        into d: UnsafeMutablePointer<Float>
    ) -> Float {
        loss.logitGradient(kind: kind, logits: z, rows: rows.count, labels: rows.labels, labelStride: rows.labelStride,
                           normalizer: n, computesLoss: false, into: d)
        var sum: Float = 0
        for s in 0..<rows.count { sum += d[s] }
        return sum
    }

    /// One SGD step with Meta-SGD multipliers `rates` (nil = 1) on the layers `policy.adapts`, in place.
    private static func step(
        _ tower: inout MLPParameters, rows support: TowerRows, policy: Adaptation, kind: TaskKind, activation: Activation,
        normalizer n: Int, rates: MLPParameters?, scratch: inout TwoLayerScratch
    ) {
        let rows = support.count, t = tower.layers[0].outputs
        forward(tower, features: support.features, rows: rows, ldf: support.featureStride, activation: activation,
                scratch: &scratch)
        let dBias2 = Borrow.update(&scratch.dLogits) { d in
            Borrow.read(scratch.logits) { z in
                logitGradient(policy.loss, kind: kind, logits: z, rows: support, normalizer: n, into: d)
            }
        }
        Borrow.update(&scratch.hidden, &scratch.dw2, &scratch.db1) { a, dw2, db1 in
            dw2.update(repeating: 0, count: t)
            db1.update(repeating: 0, count: t)
            Borrow.read(scratch.dLogits, tower.layers[1].weight) { d, w2 in
                TowerHead.backward(a, rows: rows, width: t, lda: t, activation: activation.head,
                                   d: d, w2: w2, dw2: dw2, db1: db1)
            }
        }
        update(&tower, rates: rates, adapts: policy.adapts, rows: support, dBias2: dBias2,
               learningRate: policy.learningRate, scratch: &scratch)
    }

    /// The update of a masked or Meta-SGD step, once `scratch` holds `D`, `Σ_s D_s`, `Aᵀd`:
    /// `θ ← θ − α·ρ ⊙ ∇θ` on the adapted layers.
    private static func update(
        _ tower: inout MLPParameters, rates: MLPParameters?, adapts: AdaptedLayers, rows support: TowerRows,
        dBias2: Float, learningRate alpha: Float, scratch: inout TwoLayerScratch
    ) {
        let h = tower.layers[0].inputs, t = tower.layers[0].outputs
        func descend(_ p: inout Tensor, _ rho: Tensor?, _ g: UnsafePointer<Float>) {
            let count = p.count
            Borrow.update(&p) { p in
                guard let rho else {
                    for i in 0..<count { p[i] -= alpha * g[i] }
                    return
                }
                Borrow.read(rho) { r in
                    for i in 0..<count { p[i] -= alpha * r[i] * g[i] }
                }
            }
        }
        if adapts.contains(.hidden) {
            scratch.prepareWeightGradient(count: h * t)
            Borrow.update(&scratch.dw1) { dw1 in
                Borrow.read(scratch.hidden) { delta in
                    GEMM.compute(m: h, n: t, k: support.count, a: support.features, lda: support.featureStride,
                                 transposeA: true, b: delta, ldb: t, c: dw1, ldc: t, beta: 0)
                }
            }
            Borrow.read(scratch.dw1) { descend(&tower.layers[0].weight, rates?.layers[0].weight, $0) }
            Borrow.read(scratch.db1) { descend(&tower.layers[0].bias, rates?.layers[0].bias, $0) }
        }
        if adapts.contains(.output) {
            Borrow.read(scratch.dw2) { descend(&tower.layers[1].weight, rates?.layers[1].weight, $0) }
            tower.layers[1].bias.scalars[0] -= alpha * (rates?.layers[1].bias.scalars[0] ?? 1) * dBias2
        }
    }

    /// The tower's outputs on `rows` rows: `σ(z)` (binary) or `z` (regression) into
    /// `output[i · outputStride]`. Returns whether every output is finite.
    static func predict(
        _ tower: MLPParameters, features f: UnsafePointer<Float>, rows: Int, ldf: Int, kind: TaskKind,
        activation: Activation, output: UnsafeMutablePointer<Float>, outputStride: Int, scratch: inout TwoLayerScratch
    ) -> Bool {
        forward(tower, features: f, rows: rows, ldf: ldf, activation: activation, keepHidden: false, scratch: &scratch)
        var finite = true
        Borrow.read(scratch.logits) { z in
            switch kind {
            case .binary:
                Sigmoid.forward(z, count: rows, into: output, stride: outputStride)
                for i in 0..<rows { finite = finite && output[i * outputStride].isFinite }
            case .regression:
                for i in 0..<rows {
                    output[i * outputStride] = z[i]
                    finite = finite && z[i].isFinite
                }
            }
        }
        return finite
    }
}

/// Buffers of ``TwoLayerTower`` (in ``TowerWorkspace``); they only grow, so once sized for the
/// largest set they allocate nothing.
struct TwoLayerScratch: Sendable {
    /// `(rows, T)` activations, then `∂L/∂z`.
    var hidden: [Float] = []
    /// `(rows)` logits.
    var logits: [Float] = []
    /// `(rows)` `∂L/∂logit`.
    var dLogits: [Float] = []
    /// `(T)` gradients of `w2` and `b1`.
    var dw2: [Float] = []
    var db1: [Float] = []
    /// `(H, T)` gradient of `W1`, only for Meta-SGD steps (plain steps update `W1` in the GEMM).
    var dw1: [Float] = []

    mutating func prepare(rows: Int, width: Int) {
        Self.grow(&hidden, to: rows * width)
        Self.grow(&logits, to: rows)
        Self.grow(&dLogits, to: rows)
        Self.grow(&dw2, to: width)
        Self.grow(&db1, to: width)
    }

    mutating func prepareWeightGradient(count: Int) {
        Self.grow(&dw1, to: count)
    }

    private static func grow(_ buffer: inout [Float], to count: Int) {
        if buffer.count < count { buffer.append(contentsOf: repeatElement(0, count: count - buffer.count)) }
    }
}

extension Activation {
    /// The same activation as a ``TensorCore/TowerHead`` code.
    var head: TowerHead.Activation {
        switch self {
        case .relu: .relu
        case .tanh: .tanh
        }
    }
}
