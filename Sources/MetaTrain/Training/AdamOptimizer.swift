import Models
import TensorCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam (Kingma & Ba 2015) for the dense parameters, with optional decoupled weight decay
/// (AdamW, Loshchilov & Hutter 2019):
///
/// ```
/// m ← β₁m + (1 − β₁)g      v ← β₂v + (1 − β₂)g²
/// θ ← θ − η · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε) − η·λ·θ
/// ```
/// The moments are ``ModelParameters`` too, so they checkpoint like the weights.
public struct AdamOptimizer: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// First moments, shaped like the parameters.
    public var m: ModelParameters
    /// Second moments, shaped like the parameters.
    public var v: ModelParameters
    /// Steps taken (`t`).
    public var step: Int = 0

    public init(like parameters: ModelParameters, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.m = .zeros(like: parameters)
        self.v = .zeros(like: parameters)
    }

    /// Applies one update of `parameters` from `gradients`.
    public mutating func update(_ parameters: inout ModelParameters, gradients: ModelParameters) {
        step += 1
        let c1 = 1 - powf(beta1, Float(step)), c2 = 1 - powf(beta2, Float(step))
        let (b1, b2, eps, lr, wd) = (beta1, beta2, epsilon, learningRate, weightDecay)
        for (_, path) in parameters.tensorPaths {
            gradients[keyPath: path].withUnsafeBufferPointer { g in
                m[keyPath: path].withUnsafeMutableBufferPointer { mm in
                    v[keyPath: path].withUnsafeMutableBufferPointer { vv in
                        parameters[keyPath: path].withUnsafeMutableBufferPointer { p in
                            for j in 0..<p.count {
                                let gj = g[j]
                                mm[j] = b1 * mm[j] + (1 - b1) * gj
                                vv[j] = b2 * vv[j] + (1 - b2) * gj * gj
                                let update = (mm[j] / c1) / ((vv[j] / c2).squareRoot() + eps)
                                p[j] -= lr * (update + wd * p[j])
                            }
                        }
                    }
                }
            }
        }
    }
}
