import TensorCore

/// A stack of dense layers with an activation after each hidden layer (and after the last one
/// when `activatesLast`). Experts and the shared bottom activate every layer; towers leave
/// the last (the logit) linear.
public struct MLPParameters: Sendable, Equatable {
    public var layers: [DenseLayer]

    public init(layers: [DenseLayer]) {
        for l in 1..<max(layers.count, 1) where layers.count > 1 {
            precondition(layers[l].inputs == layers[l - 1].outputs,
                         "MLP: layer \(l) takes \(layers[l].inputs) inputs, previous gives \(layers[l - 1].outputs)")
        }
        self.layers = layers
    }

    /// Layers of widths `widths[0] → widths[1] → … → widths.last`.
    public init(widths: [Int], activatesLast: Bool, using rng: inout SeededRandom) {
        precondition(widths.count >= 2, "MLP: need an input and at least one output width, got \(widths)")
        var layers: [DenseLayer] = []
        for l in 0..<(widths.count - 1) {
            let isLast = l == widths.count - 2
            layers.append(DenseLayer(
                inputs: widths[l], outputs: widths[l + 1],
                initialization: isLast && !activatesLast ? .xavier : .he, using: &rng))
        }
        self.init(layers: layers)
    }

    public var inputWidth: Int { layers[0].inputs }
    public var outputWidth: Int { layers[layers.count - 1].outputs }

    /// Zero parameters of the same shapes.
    public func zeros() -> MLPParameters { MLPParameters(layers: layers.map { $0.zeros() }) }

    /// Parameters of the same shapes with every scalar `value` (Meta-SGD's `ρ = 1`).
    public func filled(with value: Float) -> MLPParameters {
        var out = zeros()
        for l in out.layers.indices {
            out.layers[l].weight.fill(value)
            out.layers[l].bias.fill(value)
        }
        return out
    }

    /// Number of scalars.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weight.count + $1.bias.count } }
}

extension MLPParameters {
    /// `self += scale · (a ⊙ b)`, tensor by tensor.
    mutating func addProduct(_ a: MLPParameters, _ b: MLPParameters, scale: Float) {
        for l in layers.indices {
            Self.addProduct(&layers[l].weight, a.layers[l].weight, b.layers[l].weight, scale)
            Self.addProduct(&layers[l].bias, a.layers[l].bias, b.layers[l].bias, scale)
        }
    }

    /// `self ⊙ other`.
    func product(_ other: MLPParameters) -> MLPParameters {
        var out = zeros()
        out.addProduct(self, other, scale: 1)
        return out
    }

    private static func addProduct(_ out: inout Tensor, _ a: Tensor, _ b: Tensor, _ scale: Float) {
        precondition(out.count == a.count && out.count == b.count, "addProduct: \(out.count), \(a.count), \(b.count) scalars")
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    for i in o.indices { o[i] += scale * a[i] * b[i] }
                }
            }
        }
    }
}

/// What the forward pass of an ``MLP`` keeps for backward, plus backward scratch.
/// Preallocated and reused across batches of the same row count.
public struct MLPActivations: Sendable {
    /// `outputs[l]`: output of layer `l` after its activation (if any), `(B, width_{l+1})`.
    public var outputs: [Tensor] = []
    /// `deltas[l]`: scratch for ∂L/∂(pre-activation of layer l), `(B, width_{l+1})`.
    var deltas: [Tensor] = []
    /// Scratch for the gradient flowing into layer `l`'s output, `(B, width_{l+1})`.
    var upstream: [Tensor] = []

    public init() {}

    /// Sizes the buffers for `rows` rows of `parameters`.
    mutating func prepare(rows: Int, for parameters: MLPParameters) {
        let count = parameters.layers.count
        if outputs.count != count {
            outputs = parameters.layers.map { Tensor(shape: [rows, $0.outputs]) }
            deltas = outputs
            upstream = outputs
            return
        }
        for l in 0..<count {
            let width = parameters.layers[l].outputs
            outputs[l].resize(rows: rows, columns: width)
            deltas[l].resize(rows: rows, columns: width)
            upstream[l].resize(rows: rows, columns: width)
        }
    }

    /// The network's output, `(B, outputWidth)`.
    public var result: Tensor { outputs[outputs.count - 1] }
}

/// Forward and backward of ``MLPParameters``.
public enum MLP {
    /// ```
    /// a_0 = x;  a_{l+1} = act(a_l · W_l + b_l)     (no act on the last layer unless activatesLast)
    /// ```
    /// - Parameters: input `(B, in)`; the result is `cache.result`, `(B, out)`.
    public static func forward(
        _ parameters: MLPParameters, input: Tensor, activation: Activation, activatesLast: Bool,
        cache: inout MLPActivations
    ) {
        cache.prepare(rows: input.shape[0], for: parameters)
        let first = parameters.layers[0]
        Linear.forward(input: input, weight: first.weight, bias: first.bias, output: &cache.outputs[0])
        forwardAfterFirstLayer(parameters, activation: activation, activatesLast: activatesLast, cache: &cache)
    }

    /// ``forward(_:input:activation:activatesLast:cache:)`` from layer 0's pre-activation
    /// `x·W_0 + b_0`, which the caller has written to `cache.outputs[0]` (the folded first layer,
    /// ``FoldedInputLinear``); `cache` was prepared for the batch's rows.
    static func forwardAfterFirstLayer(
        _ parameters: MLPParameters, activation: Activation, activatesLast: Bool, cache: inout MLPActivations
    ) {
        let count = parameters.layers.count
        for l in 0..<count {
            if l > 0 {
                let layer = parameters.layers[l]
                Linear.forward(input: cache.outputs[l - 1], weight: layer.weight, bias: layer.bias, output: &cache.outputs[l])
            }
            if l < count - 1 || activatesLast { activation.apply(&cache.outputs[l]) }
        }
    }

    /// Backward of ``forward(_:input:activation:activatesLast:cache:)``: accumulates
    /// parameter gradients into `gradients` and, when `dInput` is given, `∂L/∂x` into it.
    ///
    /// ```
    /// δ_l = ∂L/∂a_{l+1} ⊙ act'(a_{l+1})      dW_l += a_lᵀ δ_l    db_l += Σ_rows δ_l
    /// ∂L/∂a_l = δ_l W_lᵀ
    /// ```
    public static func backward(
        _ parameters: MLPParameters, input: Tensor, activation: Activation, activatesLast: Bool,
        cache: inout MLPActivations, dOutput: Tensor,
        gradients: inout MLPParameters, dInput: inout Tensor?
    ) {
        backwardAboveFirstLayer(parameters, activation: activation, activatesLast: activatesLast, cache: &cache,
                                dOutput: dOutput, gradients: &gradients)
        gradients.layers[0].withTensors { dWeight, dBias in
            if dInput != nil {
                Linear.backward(input: input, weight: parameters.layers[0].weight, dOutput: cache.deltas[0],
                                dInput: &dInput!, dWeight: &dWeight, dBias: &dBias)
            } else {
                Linear.backwardParameters(input: input, dOutput: cache.deltas[0], dWeight: &dWeight, dBias: &dBias)
            }
        }
    }

    /// ``backward(_:input:activation:activatesLast:cache:dOutput:gradients:dInput:)`` down to
    /// layer 0's pre-activation: the gradients of layers 1… accumulated into `gradients`, and
    /// `∂L/∂(x·W_0 + b_0)` left in `cache.deltas[0]` for the caller (the folded first layer,
    /// ``FoldedInputLinear``, or the plain one above).
    static func backwardAboveFirstLayer(
        _ parameters: MLPParameters, activation: Activation, activatesLast: Bool,
        cache: inout MLPActivations, dOutput: Tensor, gradients: inout MLPParameters
    ) {
        let count = parameters.layers.count
        precondition(dOutput.shape == cache.outputs[count - 1].shape,
                     "MLP.backward: dOutput \(dOutput.shape) vs output \(cache.outputs[count - 1].shape)")
        for l in stride(from: count - 1, through: 0, by: -1) {
            let upstreamGradient = l == count - 1 ? dOutput : cache.upstream[l]
            if l < count - 1 || activatesLast {
                cache.deltas[l].fill(0)
                activation.backward(output: cache.outputs[l], dOutput: upstreamGradient, dInput: &cache.deltas[l])
            } else {
                // Copy rather than share: sharing would make the next resize copy-on-write.
                cache.deltas[l].assign(upstreamGradient)
            }
            if l > 0 {
                cache.upstream[l - 1].fill(0)
                gradients.layers[l].withTensors { dWeight, dBias in
                    Linear.backward(
                        input: cache.outputs[l - 1], weight: parameters.layers[l].weight, dOutput: cache.deltas[l],
                        dInput: &cache.upstream[l - 1], dWeight: &dWeight, dBias: &dBias)
                }
            }
        }
    }
}
