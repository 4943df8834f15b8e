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
/// The moments are ``ModelParameters`` too, so they checkpoint like the weights. Meta-SGD rate
/// multipliers `ρ` take their own `η_ρ` and are not decayed (decay would pull them to 0, i.e. to
/// no adaptation).
public struct AdamOptimizer: Sendable {
    public var learningRate: Float
    /// `η_ρ`: the learning rate of Meta-SGD's rate multipliers.
    public var innerRatesLearningRate: Float
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
                epsilon: Float = 1e-8, weightDecay: Float = 0, innerRatesLearningRate: Float? = nil) {
        self.learningRate = learningRate
        self.innerRatesLearningRate = innerRatesLearningRate ?? learningRate
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
        let b1 = beta1, b2 = beta2, eps = epsilon
        for slot in parameters.tensorSlots {
            let (lr, wd): (Float, Float)
            if case .innerRate = slot { (lr, wd) = (innerRatesLearningRate, 0) } else { (lr, wd) = (learningRate, weightDecay) }
            gradients.tensor(at: slot).withUnsafeBufferPointer { g in
                m.withTensor(at: slot) { m in
                    v.withTensor(at: slot) { v in
                        parameters.withTensor(at: slot) { p in
                            m.withUnsafeMutableBufferPointer { mm in
                                v.withUnsafeMutableBufferPointer { vv in
                                    p.withUnsafeMutableBufferPointer { pp in
                                        Self.step(parameters: pp, gradients: g, m: mm, v: vv,
                                                  constants: (b1, b2, 1 / c1, 1 / c2, eps, lr, wd))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension AdamOptimizer {
    /// The elementwise update over one tensor, eight lanes at a time (the compiler does not
    /// vectorise the scalar loop: four buffers it cannot prove disjoint).
    fileprivate static func step(
        parameters p: UnsafeMutableBufferPointer<Float>, gradients g: UnsafeBufferPointer<Float>,
        m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
        constants: (b1: Float, b2: Float, inverseC1: Float, inverseC2: Float, eps: Float, lr: Float, wd: Float)
    ) {
        let (b1, b2, ic1, ic2, eps, lr, wd) = constants
        let n = p.count
        guard n > 0 else { return }
        typealias V = SIMD8<Float>
        let stride = MemoryLayout<Float>.stride
        let pb = UnsafeMutableRawPointer(p.baseAddress!), gb = UnsafeRawPointer(g.baseAddress!)
        let mb = UnsafeMutableRawPointer(m.baseAddress!), vb = UnsafeMutableRawPointer(v.baseAddress!)
        var j = 0
        while j + 8 <= n {
            let offset = j * stride
            let gj = gb.loadUnaligned(fromByteOffset: offset, as: V.self)
            let mj = b1 * mb.loadUnaligned(fromByteOffset: offset, as: V.self) + (1 - b1) * gj
            let vj = b2 * vb.loadUnaligned(fromByteOffset: offset, as: V.self) + (1 - b2) * gj * gj
            var pj = pb.loadUnaligned(fromByteOffset: offset, as: V.self)
            let update = (mj * ic1) / ((vj * ic2).squareRoot() + eps)
            pj -= lr * (update + wd * pj)
            mb.storeBytes(of: mj, toByteOffset: offset, as: V.self)
            vb.storeBytes(of: vj, toByteOffset: offset, as: V.self)
            pb.storeBytes(of: pj, toByteOffset: offset, as: V.self)
            j += 8
        }
        while j < n {
            let gj = g[j]
            m[j] = b1 * m[j] + (1 - b1) * gj
            v[j] = b2 * v[j] + (1 - b2) * gj * gj
            let update = (m[j] * ic1) / ((v[j] * ic2).squareRoot() + eps)
            p[j] -= lr * (update + wd * p[j])
            j += 1
        }
    }
}
