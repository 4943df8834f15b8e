import Foundation
import TensorCore

/// The parameters of a GRU (Cho et al. 2014, PyTorch's gate layout), and their gradients (the
/// same type). Gate blocks are column ranges of width `H`, in the order `[r | z | n]`.
public struct GRUParameters: Sendable, Equatable {
    /// `W_x` `(In, 3H)`.
    public var inputWeight: Tensor
    /// `W_h` `(H, 3H)`.
    public var hiddenWeight: Tensor
    /// `b_x` `(3H)`.
    public var inputBias: Tensor
    /// `b_h` `(3H)`.
    public var hiddenBias: Tensor

    /// Uniform in `±1/√H` (PyTorch's initialisation).
    public init(inputs: Int, hidden: Int, using rng: inout SeededRandom) {
        let bound = 1 / Float(hidden).squareRoot()
        inputWeight = Tensor.uniform(shape: [inputs, 3 * hidden], bound: bound, using: &rng)
        hiddenWeight = Tensor.uniform(shape: [hidden, 3 * hidden], bound: bound, using: &rng)
        inputBias = Tensor.uniform(shape: [3 * hidden], bound: bound, using: &rng)
        hiddenBias = Tensor.uniform(shape: [3 * hidden], bound: bound, using: &rng)
    }

    /// Parameters from tensors (a checkpoint).
    public init(inputWeight: Tensor, hiddenWeight: Tensor, inputBias: Tensor, hiddenBias: Tensor) {
        let h = hiddenWeight.shape[0]
        precondition(inputWeight.rank == 2 && inputWeight.shape[1] == 3 * h && hiddenWeight.shape == [h, 3 * h]
                     && inputBias.shape == [3 * h] && hiddenBias.shape == [3 * h],
                     "GRUParameters: W_x \(inputWeight.shape), W_h \(hiddenWeight.shape), b_x \(inputBias.shape), b_h \(hiddenBias.shape)")
        (self.inputWeight, self.hiddenWeight, self.inputBias, self.hiddenBias) = (inputWeight, hiddenWeight, inputBias, hiddenBias)
    }

    /// `H`.
    public var hiddenWidth: Int { hiddenWeight.shape[0] }
    /// `In`.
    public var inputWidth: Int { inputWeight.shape[0] }

    /// Zeros of the same shapes (a gradient accumulator).
    public func zeros() -> GRUParameters {
        GRUParameters(inputWeight: Tensor(shape: inputWeight.shape), hiddenWeight: Tensor(shape: hiddenWeight.shape),
                      inputBias: Tensor(shape: inputBias.shape), hiddenBias: Tensor(shape: hiddenBias.shape))
    }
}

/// What ``GRU`` forward keeps for backward, and backward's scratch; reused across batches.
public struct GRUWorkspace: Sendable {
    /// `x·W_x + b_x`, `(L·B, 3H)` time-major.
    var inputProjection = Tensor(shape: [0, 0])
    /// `h_t·W_h + b_h` before step `t`, `(L·B, 3H)`.
    var hiddenProjection = Tensor(shape: [0, 0])
    /// The gates after their activations `[r | z | n]`, `(L·B, 3H)`.
    var gates = Tensor(shape: [0, 0])
    /// `h_0 = 0, h_1, …, h_L`, `((L+1)·B, H)`.
    var states = Tensor(shape: [0, 0])
    /// `∂L/∂(x·W_x + b_x)`, `(L·B, 3H)`.
    var dInputProjection = Tensor(shape: [0, 0])
    /// `∂L/∂(h_t·W_h + b_h)` of one step, `(B, 3H)`.
    var dHiddenProjection = Tensor(shape: [0, 0])
    /// `∂L/∂h_t`, `(B, H)`.
    var dState = Tensor(shape: [0, 0])

    public init() {}
}

/// A GRU over a padded batch of sequences, returning each row's state after its last real step.
///
/// ```
/// r_t = σ(x_t W_xr + b_xr + h_t W_hr + b_hr)
/// z_t = σ(x_t W_xz + b_xz + h_t W_hz + b_hz)
/// n_t = tanh(x_t W_xn + b_xn + r_t ⊙ (h_t W_hn + b_hn))
/// h_{t+1} = (1 − z_t) ⊙ n_t + z_t ⊙ h_t     if t < n_b, else h_t (padding leaves the state alone)
/// out = h_L                                   h_0 = 0
/// x (L·B, In) time-major   out (B, H)
/// ```
/// One GEMM for every step's input projection, one `(B, H)·(H, 3H)` GEMM per step.
public enum GRU {
    /// Runs the recurrence; `output` is resized to `(B, H)`.
    public static func forward(
        _ p: GRUParameters, sequence x: Tensor, history: HistoryBatch, workspace ws: inout GRUWorkspace, output: inout Tensor
    ) {
        let l = history.maxLength, count = history.count, h = p.hiddenWidth
        precondition(x.shape == [l * count, p.inputWidth],
                     "GRU.forward: sequence \(x.shape), expected [\(l * count), \(p.inputWidth)]")
        ws.inputProjection.resize(rows: l * count, columns: 3 * h)
        ws.hiddenProjection.resize(rows: l * count, columns: 3 * h)
        ws.gates.resize(rows: l * count, columns: 3 * h)
        ws.states.resize(rows: (l + 1) * count, columns: h)
        Linear.forward(input: x, weight: p.inputWeight, bias: p.inputBias, output: &ws.inputProjection)
        Borrow.update(&ws.states) { s in for i in 0..<count * h { s[i] = 0 } }
        for t in 0..<l {
            step(t, p, history: history, input: ws.inputProjection,
                 hidden: &ws.hiddenProjection, gates: &ws.gates, states: &ws.states)
        }
        output.resize(rows: count, columns: h)
        Borrow.update(&output) { out in
            Borrow.read(ws.states) { s in out.update(from: s + l * count * h, count: count * h) }
        }
    }

    /// One time step: the hidden projection by GEMM, then the gates and the masked update.
    private static func step(
        _ t: Int, _ p: GRUParameters, history: HistoryBatch, input: Tensor,
        hidden: inout Tensor, gates: inout Tensor, states: inout Tensor
    ) {
        let count = history.count, h = p.hiddenWidth, g = 3 * h
        Borrow.update(&hidden, &gates, &states) { hp, gt, s in
            Borrow.read(p.hiddenWeight, p.hiddenBias, input) { w, bias, xp in
                let hpt = hp + t * count * g, xpt = xp + t * count * g, gtt = gt + t * count * g
                for b in 0..<count { (hpt + b * g).update(from: bias, count: g) }
                GEMM.compute(m: count, n: g, k: h, a: s + t * count * h, lda: h, b: w, ldb: g, c: hpt, ldc: g, beta: 1)
                let previous = s + t * count * h, next = s + (t + 1) * count * h
                for b in 0..<count {
                    let active = t < Int(history.lengths[b])
                    for j in 0..<h {
                        let i = b * g + j, old = previous[b * h + j]
                        let r = Sigmoid.value(xpt[i] + hpt[i])
                        let z = Sigmoid.value(xpt[i + h] + hpt[i + h])
                        let n = tanhf(xpt[i + 2 * h] + r * hpt[i + 2 * h])
                        (gtt[i], gtt[i + h], gtt[i + 2 * h]) = (r, z, n)
                        next[b * h + j] = active ? (1 - z) * n + z * old : old
                    }
                }
            }
        }
    }
}
