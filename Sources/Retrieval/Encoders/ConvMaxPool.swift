import TensorCore

/// The parameters of a one-dimensional convolution over a history (`F` filters of `w` items),
/// and their gradients (the same type).
public struct ConvParameters: Sendable, Equatable {
    /// `W` `(w·In, F)`: row `j·In + c` is input channel `c` at window offset `j`.
    public var weight: Tensor
    /// `b` `(F)`.
    public var bias: Tensor

    /// He-uniform weights (the filters feed a ReLU), zero bias.
    public init(inputs: Int, width: Int, filters: Int, using rng: inout SeededRandom) {
        let bound = (6 / Float(width * inputs)).squareRoot()
        weight = Tensor.uniform(shape: [width * inputs, filters], bound: bound, using: &rng)
        bias = Tensor(shape: [filters])
    }

    /// Parameters from tensors (a checkpoint); `width` divides the weight's rows.
    public init(weight: Tensor, bias: Tensor) {
        precondition(weight.rank == 2 && bias.shape == [weight.shape[1]],
                     "ConvParameters: W \(weight.shape), b \(bias.shape)")
        (self.weight, self.bias) = (weight, bias)
    }

    /// `F`.
    public var filters: Int { weight.shape[1] }

    /// Zeros of the same shapes (a gradient accumulator).
    public func zeros() -> ConvParameters {
        ConvParameters(weight: Tensor(shape: weight.shape), bias: Tensor(shape: bias.shape))
    }
}

/// What ``ConvMaxPool`` forward keeps for backward, and backward's scratch.
public struct ConvWorkspace: Sendable {
    /// The unfolded windows `U`, `(L·B, w·In)` time-major.
    var windows = Tensor(shape: [0, 0])
    /// `U·W + b` before the ReLU, `(L·B, F)`.
    var responses = Tensor(shape: [0, 0])
    /// The pooled position of each `(b, f)`, `(B·F)`; −1 for an empty history.
    var argmax: [Int32] = []
    /// `∂L/∂(U·W + b)`, `(L·B, F)`.
    var dResponses = Tensor(shape: [0, 0])
    /// `∂L/∂U`, `(L·B, w·In)`.
    var dWindows = Tensor(shape: [0, 0])

    public init() {}
}

/// A convolution over each history (`F` filters `w` items wide, ReLU) max-pooled over the
/// history's positions: the CNN encoder of TensorFlow Lite's on-device recommender
/// (conv1d + global max-pool).
///
/// ```
/// U[t, b] = [x[t, b] | x[t+1, b] | … | x[t+w−1, b]]    x[t', b] = 0 for t' ≥ n_b     (L·B, w·In)
/// y[t, b] = ReLU(U[t, b] · W + b)                                                   (L·B, F)
/// out[b, f] = max_{t < T_b} y[t, b, f]      T_b = max(1, n_b − w + 1) windows, 0 if n_b = 0    (B, F)
/// ```
/// A history shorter than `w` gives one window, zero-padded on the right; an empty one gives
/// `out = 0`. Backward sends each `(b, f)`'s gradient to its first maximising position.
public enum ConvMaxPool {
    /// The windows of row `b` that are pooled.
    static func windowCount(length: Int, width: Int) -> Int { length == 0 ? 0 : max(1, length - width + 1) }

    /// Encodes the histories; `output` is resized to `(B, F)`.
    public static func forward(
        _ p: ConvParameters, sequence x: Tensor, history: HistoryBatch, workspace ws: inout ConvWorkspace, output: inout Tensor
    ) {
        let l = history.maxLength, count = history.count, f = p.filters
        let (rows, input) = x.matrixShape("ConvMaxPool.forward", "sequence")
        precondition(rows == l * count && p.weight.shape[0] % input == 0,
                     "ConvMaxPool.forward: sequence \(x.shape), weight \(p.weight.shape), \(count) histories of ≤ \(l)")
        let w = p.weight.shape[0] / input
        unfold(x, history: history, width: w, into: &ws.windows)
        ws.responses.resize(rows: l * count, columns: f)
        Linear.forward(input: ws.windows, weight: p.weight, bias: p.bias, output: &ws.responses)
        output.resize(rows: count, columns: f)
        var argmax = ws.argmax
        ws.argmax = []  // hand the storage over without a copy-on-write
        argmax.removeAll(keepingCapacity: true)
        argmax.append(contentsOf: repeatElement(-1, count: count * f))
        Borrow.update(&output, &argmax) { out, arg in
            Borrow.read(ws.responses) { y in
                for b in 0..<count {
                    let windows = windowCount(length: Int(history.lengths[b]), width: w)
                    for k in 0..<f {
                        var best: Float = 0, at: Int32 = -1
                        for t in 0..<windows {
                            let v = max(0, y[(t * count + b) * f + k])
                            if at < 0 || v > best { (best, at) = (v, Int32(t)) }
                        }
                        out[b * f + k] = best
                        arg[b * f + k] = at
                    }
                }
            }
        }
        ws.argmax = argmax
    }

    /// Accumulates the gradients of ``forward(_:sequence:history:workspace:output:)`` (which
    /// filled `workspace`) into `gradients` and adds `∂L/∂x` into `dSequence` `(L·B, In)`.
    ///
    /// ```
    /// dy[t, b, f] = dOut[b, f]  if t = argmax(b, f) and y[t, b, f] > 0, else 0
    /// dW += Uᵀ dy    db += Σ dy    dU = dy Wᵀ    dx[t + j, b] += dU[t, b][j·In ..< (j+1)·In]  (t + j < n_b)
    /// ```
    public static func backward(
        _ p: ConvParameters, history: HistoryBatch, workspace ws: inout ConvWorkspace, dOutput: Tensor,
        gradients: inout ConvParameters, dSequence: inout Tensor
    ) {
        let l = history.maxLength, count = history.count, f = p.filters
        precondition(dOutput.shape == [count, f], "ConvMaxPool.backward: dOutput \(dOutput.shape), expected [\(count), \(f)]")
        precondition(ws.responses.shape == [l * count, f] && ws.windows.shape == [l * count, p.weight.shape[0]],
                     "ConvMaxPool.backward: run forward on this batch first")
        precondition(dSequence.rank == 2 && dSequence.shape[0] == l * count && dSequence.shape[1] > 0
                     && p.weight.shape[0] % dSequence.shape[1] == 0,
                     "ConvMaxPool.backward: dSequence \(dSequence.shape) for \(count) histories of ≤ \(l), weight \(p.weight.shape)")
        ws.dResponses.resize(rows: l * count, columns: f, zeroed: true)
        let argmax = ws.argmax
        Borrow.update(&ws.dResponses) { dy in
            Borrow.read(ws.responses, dOutput) { y, d in
                for b in 0..<count {
                    for k in 0..<f {
                        let t = Int(argmax[b * f + k])
                        let i = (t * count + b) * f + k
                        if t >= 0, y[i] > 0 { dy[i] = d[b * f + k] }
                    }
                }
            }
        }
        ws.dWindows.resize(rows: l * count, columns: p.weight.shape[0], zeroed: true)
        Linear.backward(input: ws.windows, weight: p.weight, dOutput: ws.dResponses, dInput: &ws.dWindows,
                        dWeight: &gradients.weight, dBias: &gradients.bias)
        fold(ws.dWindows, history: history, into: &dSequence)
    }

    /// `U` from `x` (see the type's definition).
    static func unfold(_ x: Tensor, history: HistoryBatch, width w: Int, into windows: inout Tensor) {
        let l = history.maxLength, count = history.count, input = x.shape[1]
        windows.resize(rows: l * count, columns: w * input)
        Borrow.update(&windows) { u in
            Borrow.read(x) { xs in
                for t in 0..<l {
                    for b in 0..<count {
                        let n = Int(history.lengths[b]), row = u + (t * count + b) * w * input
                        for j in 0..<w {
                            if t + j < n {
                                (row + j * input).update(from: xs + ((t + j) * count + b) * input, count: input)
                            } else {
                                (row + j * input).update(repeating: 0, count: input)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of ``unfold(_:history:width:into:)``: adds each window slot's gradient to the
    /// position it was read from.
    static func fold(_ dWindows: Tensor, history: HistoryBatch, into dx: inout Tensor) {
        let l = history.maxLength, count = history.count, input = dx.shape[1], w = dWindows.shape[1] / input
        Borrow.update(&dx) { d in
            Borrow.read(dWindows) { du in
                for t in 0..<l {
                    for b in 0..<count {
                        let n = Int(history.lengths[b]), row = du + (t * count + b) * w * input
                        for j in 0..<w where t + j < n {
                            let target = d + ((t + j) * count + b) * input
                            for c in 0..<input { target[c] += row[j * input + c] }
                        }
                    }
                }
            }
        }
    }
}
