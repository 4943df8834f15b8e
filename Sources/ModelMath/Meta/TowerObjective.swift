import TensorCore

/// One tower's loss on a set of rows, and its gradient: the inner-loop objective of MAML
/// and, on query rows, the meta objective.
///
/// ```
/// L(θ; f, y) = (1/n) Σ_{s: y_s labelled} loss(Tower(f_s; θ), y_s)      f: (S, H), y: (S)
/// ```
/// `n` is the normaliser: the set's own labelled count by default, which is what makes a
/// request's adaptation independent of whatever it is batched with ("num" normalisation).
public enum TowerObjective {
    /// `L(θ; f, y)` in Double; 0 when no row is labelled.
    public static func loss(
        _ tower: Tower, input f: Tensor, labels y: Tensor, loss: InnerLoss = .pointwise,
        normalizer: Int? = nil, workspace ws: inout TowerWorkspace
    ) -> Double {
        let n = normalizer ?? TaskLoss.labelledCount(y)
        guard n > 0 else { return 0 }
        MLP.forward(tower.parameters, input: f, activation: tower.activation, activatesLast: false, cache: &ws.activations)
        let rows = f.shape[0]
        ws.dLogits.resize(rows: rows, columns: 1, zeroed: false)
        return ws.activations.result.withUnsafeBufferPointer { z in
            y.withUnsafeBufferPointer { y in
                ws.dLogits.withUnsafeMutableBufferPointer { d in
                    loss.logitGradient(kind: tower.kind, logits: z.baseAddress!, rows: rows, labels: y.baseAddress!,
                                       labelStride: 1, normalizer: n, into: d.baseAddress!)
                }
            }
        }
    }

    /// `∇θ L` (into `ws.gradients`, overwritten) and, when `inputGradient`, `∇f L` (into
    /// `ws.dInput`, overwritten). Returns the loss. With no labelled row both are zero.
    @discardableResult
    public static func gradient(
        _ tower: Tower, input f: Tensor, labels y: Tensor, loss: InnerLoss = .pointwise,
        normalizer: Int? = nil, inputGradient: Bool, workspace ws: inout TowerWorkspace
    ) -> Double {
        ws.prepareGradients(like: tower.parameters)
        let n = normalizer ?? TaskLoss.labelledCount(y)
        if inputGradient {
            if ws.dInput?.shape != f.shape { ws.dInput = Tensor(shape: f.shape) } else { ws.dInput!.fill(0) }
        } else {
            ws.dInput = nil
        }
        guard n > 0 else { return 0 }
        let value = Self.loss(tower, input: f, labels: y, loss: loss, normalizer: n, workspace: &ws)
        MLP.backward(tower.parameters, input: f, activation: tower.activation, activatesLast: false, cache: &ws.activations,
                     dOutput: ws.dLogits, gradients: &ws.gradients!, dInput: &ws.dInput)
        return value
    }

    /// The tower's outputs on `f`: `σ(z)` for binary tasks, `z` for regression, `(S)`
    /// (`H → T → 1` towers through the fused ``TwoLayerTower`` path).
    public static func predictions(
        _ tower: MLPParameters, input f: Tensor, kind: TaskKind, activation: Activation,
        into out: inout [Float], workspace ws: inout TowerWorkspace
    ) {
        if TwoLayerTower.applies(to: tower), f.rank == 2 {
            let rows = f.shape[0]
            out.removeAll(keepingCapacity: true)
            out.append(contentsOf: repeatElement(0, count: rows))
            guard rows > 0 else { return }
            f.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    _ = predictions(tower, rows: rows, features: x.baseAddress!, featureStride: f.shape[1], kind: kind,
                                    activation: activation, into: o.baseAddress!, outputStride: 1, workspace: &ws)
                }
            }
            return
        }
        MLP.forward(tower, input: f, activation: activation, activatesLast: false, cache: &ws.activations)
        let logits = ws.activations.result
        out.removeAll(keepingCapacity: true)
        for i in 0..<logits.count { out.append(TaskLoss.prediction(kind: kind, logit: logits.scalars[i])) }
    }

    /// ``predictions(_:input:kind:activation:into:workspace:)`` on rows read through a stride
    /// (row `i` is `features[i·featureStride ..< i·featureStride + H]`), written to
    /// `output[i·outputStride]`. Returns whether every output is finite.
    public static func predictions(
        _ tower: MLPParameters, rows: Int, features: UnsafePointer<Float>, featureStride: Int, kind: TaskKind,
        activation: Activation, into output: UnsafeMutablePointer<Float>, outputStride: Int,
        workspace ws: inout TowerWorkspace
    ) -> Bool {
        let width = tower.inputWidth
        precondition(rows >= 0 && featureStride >= width && outputStride >= 1,
                     "predictions: rows \(rows), featureStride \(featureStride) (H = \(width)), outputStride \(outputStride)")
        guard rows > 0 else { return true }
        if TwoLayerTower.applies(to: tower) {
            return TwoLayerTower.predict(tower, features: features, rows: rows, ldf: featureStride, kind: kind,
                                         activation: activation, output: output, outputStride: outputStride,
                                         scratch: &ws.twoLayer)
        }
        ws.stage(rows: rows, width: width, features: features, featureStride: featureStride)
        MLP.forward(tower, input: ws.stagedInput, activation: activation, activatesLast: false, cache: &ws.activations)
        var finite = true
        ws.activations.result.withUnsafeBufferPointer { z in
            for i in 0..<rows {
                let p = TaskLoss.prediction(kind: kind, logit: z[i])
                output[i * outputStride] = p
                finite = finite && p.isFinite
            }
        }
        return finite
    }
}
