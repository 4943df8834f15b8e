import Foundation
import TensorCore

extension LSTM {
    /// Backpropagation through time of ``forward(_:sequence:history:workspace:output:)`` (which
    /// filled `workspace`): accumulates into `gradients` and, when given, `dSequence` `(L·B, In)`.
    ///
    /// ```
    /// for t = L−1 … 0 on active rows (t < n_b), with dh, dc the gradients of h_{t+1}, c_{t+1}:
    ///   τ = tanh(c_{t+1})         dc ← dc + dh ⊙ o ⊙ (1 − τ²)
    ///   da_o = dh ⊙ τ ⊙ o(1 − o)   da_i = dc ⊙ g ⊙ i(1 − i)
    ///   da_g = dc ⊙ i ⊙ (1 − g²)   da_f = dc ⊙ c_t ⊙ f(1 − f)
    ///   dc_t = dc ⊙ f              dh_t = da W_hᵀ
    ///   dW_h += h_tᵀ da
    /// padding rows pass dh and dc through unchanged (da = 0);
    /// finally dW_x += xᵀ da, dx = da W_xᵀ, db += Σ da over every step (the bias is shared)
    /// ```
    public static func backward(
        _ p: LSTMParameters, sequence x: Tensor, history: HistoryBatch, workspace ws: inout LSTMWorkspace,
        dOutput: Tensor, gradients: inout LSTMParameters, dSequence: inout Tensor?
    ) {
        let l = history.maxLength, count = history.count, h = p.hiddenWidth
        precondition(dOutput.shape == [count, h], "LSTM.backward: dOutput \(dOutput.shape), expected [\(count), \(h)]")
        precondition(ws.states.shape == [(l + 1) * count, h], "LSTM.backward: run forward on this batch first")
        ws.dState.resize(rows: count, columns: h)
        ws.dState.assign(dOutput)
        ws.dCell.resize(rows: count, columns: h, zeroed: true)
        ws.dPreactivation.resize(rows: l * count, columns: 4 * h)
        for t in stride(from: l - 1, through: 0, by: -1) {
            stepBackward(t, history: history, gates: ws.gates, cells: ws.cells,
                         dState: &ws.dState, dCell: &ws.dCell, dPreactivation: &ws.dPreactivation)
            recurrentBackward(t, p, count: count, states: ws.states, dPreactivation: ws.dPreactivation,
                              dState: &ws.dState, gradients: &gradients)
        }
        if dSequence != nil {
            Linear.backward(input: x, weight: p.inputWeight, dOutput: ws.dPreactivation, dInput: &dSequence!,
                            dWeight: &gradients.inputWeight, dBias: &gradients.bias)
        } else {
            Linear.backwardParameters(input: x, dOutput: ws.dPreactivation, dWeight: &gradients.inputWeight, dBias: &gradients.bias)
        }
    }

    /// The element-wise part of step `t`: fills row block `t` of `dPreactivation`, carries `dCell`
    /// to `c_t`, and zeroes `dState` on active rows (their `dh_t` is the `W_h` path alone).
    private static func stepBackward(
        _ t: Int, history: HistoryBatch, gates: Tensor, cells: Tensor,
        dState: inout Tensor, dCell: inout Tensor, dPreactivation: inout Tensor
    ) {
        let count = history.count, h = dState.shape[1], g = 4 * h
        Borrow.update(&dState, &dCell, &dPreactivation) { dh, dc, da in
            Borrow.read(gates, cells) { gt, c in
                let gtt = gt + t * count * g, dat = da + t * count * g
                let (cPrev, cNext) = (c + t * count * h, c + (t + 1) * count * h)
                for b in 0..<count {
                    let active = t < Int(history.lengths[b])
                    for j in 0..<h {
                        let i = b * g + j, k = b * h + j
                        guard active else {
                            (dat[i], dat[i + h], dat[i + 2 * h], dat[i + 3 * h]) = (0, 0, 0, 0)
                            continue
                        }
                        let (ig, fg, gg, og) = (gtt[i], gtt[i + h], gtt[i + 2 * h], gtt[i + 3 * h])
                        let tau = tanhf(cNext[k])
                        let dcell = dc[k] + dh[k] * og * (1 - tau * tau)
                        dat[i] = dcell * gg * ig * (1 - ig)
                        dat[i + h] = dcell * cPrev[k] * fg * (1 - fg)
                        dat[i + 2 * h] = dcell * ig * (1 - gg * gg)
                        dat[i + 3 * h] = dh[k] * tau * og * (1 - og)
                        dc[k] = dcell * fg
                        dh[k] = 0
                    }
                }
            }
        }
    }

    /// The recurrent weights' part of step `t`: `dW_h += h_tᵀ da`, `dh_t += da W_hᵀ`.
    private static func recurrentBackward(
        _ t: Int, _ p: LSTMParameters, count: Int, states: Tensor, dPreactivation: Tensor,
        dState: inout Tensor, gradients: inout LSTMParameters
    ) {
        let h = p.hiddenWidth, g = 4 * h
        Borrow.update(&gradients.hiddenWeight, &dState) { dw, dh in
            Borrow.read(states, dPreactivation, p.hiddenWeight) { s, da, w in
                let dat = da + t * count * g
                GEMM.compute(m: h, n: g, k: count, a: s + t * count * h, lda: h, transposeA: true,
                             b: dat, ldb: g, c: dw, ldc: g, beta: 1)
                GEMM.compute(m: count, n: h, k: g, a: dat, lda: g, b: w, ldb: g, transposeB: true,
                             c: dh, ldc: h, beta: 1)
            }
        }
    }
}
