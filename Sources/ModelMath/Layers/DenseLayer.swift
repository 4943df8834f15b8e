import TensorCore

/// One fully connected layer's parameters: `y = x·W + b`.
///
/// The same type holds a layer's gradients (`dWeight`, `dBias` are a `DenseLayer` too), so
/// optimisers and checkpoints walk one list of fields.
public struct DenseLayer: Sendable, Equatable {
    /// `(in, out)` — stored input-major so the forward pass is a plain `x·W`.
    public var weight: Tensor
    /// `(out)`.
    public var bias: Tensor

    public init(weight: Tensor, bias: Tensor) {
        precondition(weight.rank == 2 && bias.shape == [weight.shape[1]],
                     "DenseLayer: weight \(weight.shape) and bias \(bias.shape) disagree")
        self.weight = weight
        self.bias = bias
    }

    /// A layer with initialised weights and zero bias.
    public init(inputs: Int, outputs: Int, initialization: Initialization, using rng: inout SeededRandom) {
        let shape = [inputs, outputs]
        let weight: Tensor
        switch initialization {
        case .he: weight = .heNormal(shape: shape, fanIn: inputs, using: &rng)
        case .xavier: weight = .xavierUniform(shape: shape, fanIn: inputs, fanOut: outputs, using: &rng)
        }
        self.init(weight: weight, bias: Tensor(shape: [outputs]))
    }

    /// Input width.
    public var inputs: Int { weight.shape[0] }
    /// Output width.
    public var outputs: Int { weight.shape[1] }

    /// A zero layer of the same shapes (a gradient accumulator).
    public func zeros() -> DenseLayer {
        DenseLayer(weight: Tensor(shape: weight.shape), bias: Tensor(shape: bias.shape))
    }

    /// Mutable access to weight and bias together: two `inout` accesses through an array
    /// element (`grads.layers[l].weight`, `grads.layers[l].bias`) would overlap.
    public mutating func withTensors<R>(_ body: (inout Tensor, inout Tensor) throws -> R) rethrows -> R {
        try body(&weight, &bias)
    }

    /// Weight initialisation schemes.
    public enum Initialization: Sendable {
        /// He normal, for layers followed by ReLU.
        case he
        /// Xavier uniform, for layers followed by softmax, sigmoid or nothing.
        case xavier
    }
}
