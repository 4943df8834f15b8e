import Foundation
import TensorCore

/// The parameters of an LSTM (Hochreiter & Schmidhuber 1997, PyTorch's gate layout), and their
/// gradients (the same type). Gate blocks are column ranges of width `H`, in the order
/// `[i | f | g | o]`.
public struct LSTMParameters: Sendable, Equatable {
    /// `W_x` `(In, 4H)`.
    public var inputWeight: Tensor
    /// `W_h` `(H, 4H)`.
    public var hiddenWeight: Tensor
    /// `b` `(4H)` (PyTorch's `b_ih + b_hh` as one vector: only their sum enters the recurrence).
    public var bias: Tensor

    /// Uniform in `±1/√H` (PyTorch's bound; its two biases become one uniform bias here), with the
    /// forget gate's bias at 1 so a fresh cell keeps its state (Jozefowicz et al. 2015).
    public init(inputs: Int, hidden: Int, using rng: inout SeededRandom) {
        let bound = 1 / Float(hidden).squareRoot()
        inputWeight = Tensor.uniform(shape: [inputs, 4 * hidden], bound: bound, using: &rng)
        hiddenWeight = Tensor.uniform(shape: [hidden, 4 * hidden], bound: bound, using: &rng)
        bias = Tensor.uniform(shape: [4 * hidden], bound: bound, using: &rng)
        Borrow.update(&bias) { b in for j in hidden..<(2 * hidden) { b[j] = 1 } }
    }

    /// Parameters from tensors (a checkpoint).
    public init(inputWeight: Tensor, hiddenWeight: Tensor, bias: Tensor) {
        let h = hiddenWeight.shape[0]
        precondition(inputWeight.rank == 2 && inputWeight.shape[1] == 4 * h && hiddenWeight.shape == [h, 4 * h]
                     && bias.shape == [4 * h],
                     "LSTMParameters: W_x \(inputWeight.shape), W_h \(hiddenWeight.shape), b \(bias.shape)")
        (self.inputWeight, self.hiddenWeight, self.bias) = (inputWeight, hiddenWeight, bias)
    }

    /// `H`.
    public var hiddenWidth: Int { hiddenWeight.shape[0] }
    /// `In`.
    public var inputWidth: Int { inputWeight.shape[0] }

    /// Zeros of the same shapes (a gradient accumulator).
    public func zeros() -> LSTMParameters {
        LSTMParameters(inputWeight: Tensor(shape: inputWeight.shape), hiddenWeight: Tensor(shape: hiddenWeight.shape),
                       bias: Tensor(shape: bias.shape))
    }
}

/// What ``LSTM`` forward keeps for backward, and backward's scratch; reused across batches.
public struct LSTMWorkspace: Sendable {
    /// The pre-activations `x_t W_x + h_t W_h + b`, then (in place) the gates after their
    /// activations `[i | f | g | o]`, `(L·B, 4H)` time-major.
    var gates = Tensor(shape: [0, 0])
    /// `h_0 = 0, h_1, …, h_L`, `((L+1)·B, H)`.
    var states = Tensor(shape: [0, 0])
    /// `c_0 = 0, c_1, …, c_L`, `((L+1)·B, H)`.
    var cells = Tensor(shape: [0, 0])
    /// `∂L/∂a`, the pre-activations' gradient, `(L·B, 4H)`.
    var dPreactivation = Tensor(shape: [0, 0])
    /// `∂L/∂h_t`, `(B, H)`.
    var dState = Tensor(shape: [0, 0])
    /// `∂L/∂c_t`, `(B, H)`.
    var dCell = Tensor(shape: [0, 0])

    public init() {}
}

/// An LSTM over a padded batch of sequences, returning each row's hidden state after its last
/// real step.
///
/// ```
/// a_t = x_t W_x + h_t W_h + b                         (B, 4H) = [a_i | a_f | a_g | a_o]
/// i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
/// c_{t+1} = f ⊙ c_t + i ⊙ g          h_{t+1} = o ⊙ tanh(c_{t+1})
///                                     if t < n_b, else (h, c) unchanged (padding)
/// out = h_L                           h_0 = c_0 = 0
/// x (L·B, In) time-major   out (B, H)
/// ```
/// One GEMM for every step's input projection, one `(B, H)·(H, 4H)` GEMM per step.
public enum LSTM {
    /// Runs the recurrence; `output` is resized to `(B, H)`.
    public static func forward(
        _ p: LSTMParameters, sequence x: Tensor, history: HistoryBatch, workspace ws: inout LSTMWorkspace, output: inout Tensor
    ) {
        let l = history.maxLength, count = history.count, h = p.hiddenWidth
        precondition(x.shape == [l * count, p.inputWidth],
                     "LSTM.forward: sequence \(x.shape), expected [\(l * count), \(p.inputWidth)]")
        ws.gates.resize(rows: l * count, columns: 4 * h)
        ws.states.resize(rows: (l + 1) * count, columns: h)
        ws.cells.resize(rows: (l + 1) * count, columns: h)
        Linear.forward(input: x, weight: p.inputWeight, bias: p.bias, output: &ws.gates)
        Borrow.update(&ws.states, &ws.cells) { s, c in
            for i in 0..<count * h { (s[i], c[i]) = (0, 0) }
        }
        for t in 0..<l { step(t, p, history: history, gates: &ws.gates, states: &ws.states, cells: &ws.cells) }
        output.resize(rows: count, columns: h)
        Borrow.update(&output) { out in
            Borrow.read(ws.states) { s in out.update(from: s + l * count * h, count: count * h) }
        }
    }

    /// One time step: adds `h_t W_h` to the pre-activations by GEMM, then the gates and the
    /// masked update of `h` and `c`.
    private static func step(
        _ t: Int, _ p: LSTMParameters, history: HistoryBatch, gates: inout Tensor, states: inout Tensor, cells: inout Tensor
    ) {
        let count = history.count, h = p.hiddenWidth, g = 4 * h
        Borrow.update(&gates, &states, &cells) { gt, s, c in
            Borrow.read(p.hiddenWeight) { w in
                let gtt = gt + t * count * g
                GEMM.compute(m: count, n: g, k: h, a: s + t * count * h, lda: h, b: w, ldb: g, c: gtt, ldc: g, beta: 1)
                let (hPrev, hNext) = (s + t * count * h, s + (t + 1) * count * h)
                let (cPrev, cNext) = (c + t * count * h, c + (t + 1) * count * h)
                for b in 0..<count {
                    let active = t < Int(history.lengths[b])
                    for j in 0..<h {
                        let i = b * g + j, k = b * h + j
                        let ig = Sigmoid.value(gtt[i]), fg = Sigmoid.value(gtt[i + h])
                        let gg = tanhf(gtt[i + 2 * h]), og = Sigmoid.value(gtt[i + 3 * h])
                        (gtt[i], gtt[i + h], gtt[i + 2 * h], gtt[i + 3 * h]) = (ig, fg, gg, og)
                        guard active else { (cNext[k], hNext[k]) = (cPrev[k], hPrev[k]); continue }
                        let cell = fg * cPrev[k] + ig * gg
                        cNext[k] = cell
                        hNext[k] = og * tanhf(cell)
                    }
                }
            }
        }
    }
}
