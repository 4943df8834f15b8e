import TensorCore

extension GRU {
    /// Backpropagation through time of ``forward(_:sequence:history:workspace:output:)`` (which
    /// filled `workspace`): accumulates into `gradients` and, when given, `dSequence` `(L·B, In)`.
    ///
    /// ```
    /// with a = pre-activations, for t = L−1 … 0 on active rows (t < n_b):
    ///   dn = dh ⊙ (1 − z)      dz = dh ⊙ (h_t − n)       dh_t  = dh ⊙ z  (+ the W_h path below)
    ///   da_n = dn ⊙ (1 − n²)   dr = da_n ⊙ (h_t W_hn + b_hn)
    ///   da_r = dr ⊙ r(1 − r)   da_z = dz ⊙ z(1 − z)
    ///   ∂(x W_x + b_x)  = [da_r | da_z | da_n]      ∂(h_t W_h + b_h) = [da_r | da_z | r ⊙ da_n]
    ///   dW_h += h_tᵀ ∂(h_t W_h + b_h)   db_h += Σ_b ∂(h_t W_h + b_h)   dh_t += ∂(h_t W_h + b_h) W_hᵀ
    /// padding rows pass dh through unchanged; finally dW_x += xᵀ ∂(x W_x + b_x), dx = ∂(x W_x + b_x) W_xᵀ
    /// ```
    public static func backward(
        _ p: GRUParameters, sequence x: Tensor, history: HistoryBatch, workspace ws: inout GRUWorkspace,
        dOutput: Tensor, gradients: inout GRUParameters, dSequence: inout Tensor?
    ) {
        let l = history.maxLength, count = history.count, h = p.hiddenWidth
        precondition(dOutput.shape == [count, h], "GRU.backward: dOutput \(dOutput.shape), expected [\(count), \(h)]")
        precondition(ws.states.shape == [(l + 1) * count, h], "GRU.backward: run forward on this batch first")
        ws.dState.resize(rows: count, columns: h)
        ws.dState.assign(dOutput)
        ws.dInputProjection.resize(rows: l * count, columns: 3 * h)
        ws.dHiddenProjection.resize(rows: count, columns: 3 * h)
        for t in stride(from: l - 1, through: 0, by: -1) {
            stepBackward(t, history: history, gates: ws.gates, hidden: ws.hiddenProjection, states: ws.states,
                         dState: &ws.dState, dInput: &ws.dInputProjection, dHidden: &ws.dHiddenProjection)
            recurrentBackward(t, p, count: count, states: ws.states, dHidden: ws.dHiddenProjection,
                              dState: &ws.dState, gradients: &gradients)
        }
        if dSequence != nil {
            Linear.backward(input: x, weight: p.inputWeight, dOutput: ws.dInputProjection, dInput: &dSequence!,
                            dWeight: &gradients.inputWeight, dBias: &gradients.inputBias)
        } else {
            Linear.backwardParameters(input: x, dOutput: ws.dInputProjection,
                                      dWeight: &gradients.inputWeight, dBias: &gradients.inputBias)
        }
    }

    /// The element-wise part of step `t`: fills row block `t` of `dInput` and `dHidden`, and
    /// leaves the direct part `dh ⊙ z` (or `dh` on padding) in `dState`.
    private static func stepBackward(
        _ t: Int, history: HistoryBatch, gates: Tensor, hidden: Tensor, states: Tensor,
        dState: inout Tensor, dInput: inout Tensor, dHidden: inout Tensor
    ) {
        let count = history.count, h = dState.shape[1], g = 3 * h
        Borrow.update(&dState, &dInput, &dHidden) { dh, dxp, dhp in
            Borrow.read(gates, hidden, states) { gt, hp, s in
                let gtt = gt + t * count * g, hpt = hp + t * count * g, dxt = dxp + t * count * g
                let previous = s + t * count * h
                for b in 0..<count {
                    let active = t < Int(history.lengths[b])
                    for j in 0..<h {
                        let i = b * g + j, k = b * h + j
                        guard active else {
                            (dxt[i], dxt[i + h], dxt[i + 2 * h]) = (0, 0, 0)
                            (dhp[i], dhp[i + h], dhp[i + 2 * h]) = (0, 0, 0)
                            continue
                        }
                        let (r, z, n) = (gtt[i], gtt[i + h], gtt[i + 2 * h])
                        let d = dh[k]
                        let dan = d * (1 - z) * (1 - n * n)
                        let daz = d * (previous[k] - n) * z * (1 - z)
                        let dar = dan * hpt[i + 2 * h] * r * (1 - r)
                        (dxt[i], dxt[i + h], dxt[i + 2 * h]) = (dar, daz, dan)
                        (dhp[i], dhp[i + h], dhp[i + 2 * h]) = (dar, daz, r * dan)
                        dh[k] = d * z
                    }
                }
            }
        }
    }

    /// The recurrent weights' part of step `t`: `dW_h`, `db_h`, and `dh_t += ∂(h_t W_h + b_h) W_hᵀ`.
    private static func recurrentBackward(
        _ t: Int, _ p: GRUParameters, count: Int, states: Tensor, dHidden: Tensor,
        dState: inout Tensor, gradients: inout GRUParameters
    ) {
        let h = p.hiddenWidth, g = 3 * h
        Borrow.update(&gradients.hiddenWeight, &gradients.hiddenBias, &dState) { dw, db, dh in
            Borrow.read(states, dHidden, p.hiddenWeight) { s, dhp, w in
                GEMM.compute(m: h, n: g, k: count, a: s + t * count * h, lda: h, transposeA: true,
                             b: dhp, ldb: g, c: dw, ldc: g, beta: 1)
                for b in 0..<count { for j in 0..<g { db[j] += dhp[b * g + j] } }
                GEMM.compute(m: count, n: h, k: g, a: dhp, lda: g, b: w, ldb: g, transposeB: true,
                             c: dh, ldc: h, beta: 1)
            }
        }
    }
}
