import TensorCore

/// Forward and backward of one STAR task tower over rows of mixed scenes (``StarTowers``):
/// row `b` of scene `s = scene(b)` goes through the MLP of the effective parameters
///
/// ```
/// W_eff,s = W ⊙ W_s    b_eff,s = b + b_s            per layer; s = −1 (unknown): W_eff = W, b_eff = b
/// z_b     = MLP(f_b; θ_eff,scene(b))                f: (B, H), z: (B, 1)
/// backward, by the product rule on each scene's dθ_eff,s = Σ_{b ∈ s} ∂L/∂θ_eff,s:
/// dW  += Σ_s dW_eff,s ⊙ W_s  (+ dW_eff,−1)          dW_s += dW_eff,s ⊙ W
/// db  += Σ_s db_eff,s        (+ db_eff,−1)          db_s += db_eff,s
/// ```
/// Rows are grouped by scene (gathered, one MLP pass per scene present, scattered back), so a
/// batch costs one tower pass over its rows plus `S` element-wise products of the tower's size.
public enum StarTower {
    /// `out = θ_eff,s`: `W ⊙ W_s`, `b + b_s`, layer by layer, into `out`'s storage when its shapes
    /// already match (no allocation after the first call).
    public static func effective(shared: MLPParameters, scene: MLPParameters, into out: inout MLPParameters) {
        precondition(shared.layers.count == scene.layers.count, "StarTower.effective: \(shared.layers.count) vs \(scene.layers.count) layers")
        if out.layers.count != shared.layers.count || zip(out.layers, shared.layers).contains(where: { $0.weight.shape != $1.weight.shape }) {
            out = shared.zeros()
        }
        for l in shared.layers.indices {
            out.layers[l].withTensors { w, b in
                combine(shared.layers[l].weight, scene.layers[l].weight, into: &w) { $0 * $1 }
                combine(shared.layers[l].bias, scene.layers[l].bias, into: &b) { $0 + $1 }
            }
        }
    }

    /// `θ_eff,s` as a new value.
    public static func effective(shared: MLPParameters, scene: MLPParameters) -> MLPParameters {
        var out = shared.zeros()
        effective(shared: shared, scene: scene, into: &out)
        return out
    }

    /// The product rule from a gradient `dθ_eff,s` of the effective tower: accumulates
    /// `dW += c·dW_eff ⊙ W_s`, `db += c·db_eff` into `dShared` and `dW_s += c·dW_eff ⊙ W`,
    /// `db_s += c·db_eff` into `dScene` (`c` = `scale`).
    public static func accumulateGradients(
        dEffective: MLPParameters, shared: MLPParameters, scene: MLPParameters,
        dShared: inout MLPParameters, dScene: inout MLPParameters, scale: Float = 1
    ) {
        dShared.addStarProduct(dEffective, factor: scene, scale: scale)
        dScene.addStarProduct(dEffective, factor: shared, scale: scale)
    }

    /// Logits `(B, 1)` of rows `input` `(B, H)` of scenes `rowScenes` (`(B)`, −1 … S−1) into `output`.
    /// `scenes[s]` are scene `s`'s factors; `workspace` keeps what ``backward`` needs.
    public static func forward(
        shared: MLPParameters, scenes: [MLPParameters], rowScenes: [Int32], input: Tensor, activation: Activation,
        workspace ws: inout StarTowerWorkspace, output: inout Tensor
    ) {
        let b = input.rows
        precondition(rowScenes.count == b, "StarTower.forward: \(rowScenes.count) scenes for \(b) rows")
        precondition(input.columns == shared.inputWidth, "StarTower.forward: input \(input.shape), tower takes \(shared.inputWidth)")
        ws.group(rowScenes: rowScenes, sceneCount: scenes.count)
        output.resize(rows: b, columns: shared.outputWidth)
        for g in ws.rows.indices where !ws.rows[g].isEmpty {
            gather(input, rows: ws.rows[g], into: &ws.inputs[g])
            if g > 0 { effective(shared: shared, scene: scenes[g - 1], into: &ws.effective[g]) }
            let theta = g == 0 ? shared : ws.effective[g]
            MLP.forward(theta, input: ws.inputs[g], activation: activation, activatesLast: false, cache: &ws.caches[g])
            scatter(ws.caches[g].result, rows: ws.rows[g], into: &output)
        }
    }

    /// Backward of the last ``forward``: accumulates `∂L/∂θ` into `dShared`, `∂L/∂θ_s` into
    /// `dScenes[s]` and, when given, `∂L/∂f` into `dInput` `(B, H)`, from `dOutput` `(B, 1)`.
    public static func backward(
        shared: MLPParameters, scenes: [MLPParameters], activation: Activation, workspace ws: inout StarTowerWorkspace,
        dOutput: Tensor, dShared: inout MLPParameters, dScenes: inout [MLPParameters], dInput: inout Tensor?
    ) {
        precondition(dScenes.count == scenes.count && ws.rows.count == scenes.count + 1,
                     "StarTower.backward: \(dScenes.count) scene gradients, \(scenes.count) scenes, \(ws.rows.count - 1) scenes forward")
        for g in ws.rows.indices where !ws.rows[g].isEmpty {
            let n = ws.rows[g].count
            gather(dOutput, rows: ws.rows[g], into: &ws.dOutputs[g])
            var dIn: Tensor? = nil
            if dInput != nil {
                ws.dInputs[g].resize(rows: n, columns: shared.inputWidth, zeroed: true)
                dIn = ws.dInputs[g]
                ws.dInputs[g] = Tensor(shape: [0, 1])  // `dIn` holds the only reference: written in place
            }
            if g == 0 {
                MLP.backward(shared, input: ws.inputs[g], activation: activation, activatesLast: false, cache: &ws.caches[g],
                             dOutput: ws.dOutputs[g], gradients: &dShared, dInput: &dIn)
            } else {
                if ws.dEffective[g].layers.count != shared.layers.count { ws.dEffective[g] = shared.zeros() }
                for l in ws.dEffective[g].layers.indices {
                    ws.dEffective[g].layers[l].withTensors { w, b in w.fill(0); b.fill(0) }
                }
                MLP.backward(ws.effective[g], input: ws.inputs[g], activation: activation, activatesLast: false,
                             cache: &ws.caches[g], dOutput: ws.dOutputs[g], gradients: &ws.dEffective[g], dInput: &dIn)
                accumulateGradients(dEffective: ws.dEffective[g], shared: shared, scene: scenes[g - 1],
                                    dShared: &dShared, dScene: &dScenes[g - 1])
            }
            if let d = dIn {
                scatterAdd(d, rows: ws.rows[g], into: &dInput!)
                ws.dInputs[g] = d
            }
        }
    }

    /// `out[i, :] = source[rows[i], :]`.
    static func gather(_ source: Tensor, rows: [Int], into out: inout Tensor) {
        let n = source.columns
        out.resize(rows: rows.count, columns: n)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() { (dst.baseAddress! + i * n).update(from: src.baseAddress! + r * n, count: n) }
            }
        }
    }

    /// `out[rows[i], :] = values[i, :]`.
    static func scatter(_ values: Tensor, rows: [Int], into out: inout Tensor) {
        let n = values.columns
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() { (dst.baseAddress! + r * n).update(from: src.baseAddress! + i * n, count: n) }
            }
        }
    }

    /// `out[rows[i], :] += values[i, :]`.
    static func scatterAdd(_ values: Tensor, rows: [Int], into out: inout Tensor) {
        let n = values.columns
        precondition(out.columns == n, "StarTower.scatterAdd: \(values.shape) into \(out.shape)")
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() { for j in 0..<n { dst[r * n + j] += src[i * n + j] } }
            }
        }
    }

    private static func combine(_ a: Tensor, _ b: Tensor, into out: inout Tensor, _ op: (Float, Float) -> Float) {
        precondition(a.shape == b.shape && a.shape == out.shape, "StarTower: shapes \(a.shape), \(b.shape), \(out.shape)")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in for i in o.indices { o[i] = op(a[i], b[i]) } }
            }
        }
    }
}

extension ModelParameters {
    /// ``StarTower/accumulateGradients(dEffective:shared:scene:dShared:dScene:scale:)`` into this
    /// gradient accumulator: `dEffective` = `∂L/∂θ_eff,s` of task `k`'s tower in scene `s`,
    /// taken at `parameters`, reaches `towers[k]` and `starTowers[k][s]` (one `inout` access,
    /// where two into one class-held value would conflict).
    public mutating func addStarGradient(_ dEffective: MLPParameters, task k: Int, scene s: Int, at parameters: ModelParameters,
                                         scale: Float = 1) {
        towers[k].addStarProduct(dEffective, factor: parameters.starTowers[k][s], scale: scale)
        starTowers[k][s].addStarProduct(dEffective, factor: parameters.towers[k], scale: scale)
    }
}

extension MLPParameters {
    /// `W += c·dW_eff ⊙ F`, `b += c·db_eff` layer by layer: one side of STAR's product rule
    /// (`F` = the scene's factors for the shared gradient, the shared weights for the scene's).
    mutating func addStarProduct(_ dEffective: MLPParameters, factor: MLPParameters, scale c: Float) {
        for l in layers.indices {
            let (dw, f, db) = (dEffective.layers[l].weight, factor.layers[l].weight, dEffective.layers[l].bias)
            precondition(dw.shape == f.shape && dw.shape == layers[l].weight.shape && db.shape == layers[l].bias.shape,
                         "addStarProduct: layer \(l) shapes \(dw.shape), \(f.shape), \(layers[l].weight.shape)")
            layers[l].withTensors { w, b in
                dw.withUnsafeBufferPointer { dw in
                    f.withUnsafeBufferPointer { f in
                        w.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] += c * dw[i] * f[i] } }
                    }
                }
                b.addScaled(db, by: c)
            }
        }
    }
}
