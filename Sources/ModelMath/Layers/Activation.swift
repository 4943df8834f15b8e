import TensorCore

/// The nonlinearity between hidden layers.
public enum Activation: String, Sendable, Codable, CaseIterable {
    /// `max(x, 0)` — the default for experts and towers.
    case relu
    /// `tanh(x)` — smooth, so second-order MAML can be checked against finite differences
    /// without kinks.
    case tanh

    /// Applies the activation in place.
    func apply(_ x: inout Tensor) {
        switch self {
        case .relu: ReLU.forwardInPlace(&x)
        case .tanh: Tanh.forwardInPlace(&x)
        }
    }

    /// `dInput += dOutput ⊙ act'(·)`, written in terms of the activation's *output*.
    func backward(output: Tensor, dOutput: Tensor, dInput: inout Tensor) {
        switch self {
        case .relu: ReLU.backward(output: output, dOutput: dOutput, dInput: &dInput)
        case .tanh: Tanh.backward(output: output, dOutput: dOutput, dInput: &dInput)
        }
    }
}
