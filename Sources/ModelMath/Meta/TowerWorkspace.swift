import TensorCore

/// Buffers for running one tower on a small set of rows (a task's support or query set, a
/// request's candidates): activations, label scratch and gradients. Reused across calls;
/// once sized for the largest set it allocates nothing.
public struct TowerWorkspace: Sendable {
    var activations = MLPActivations()
    /// Gradient accumulator shaped like the tower.
    var gradients: MLPParameters?
    /// `(S, 1)` ∂L/∂logit.
    var dLogits = Tensor(shape: [0, 1])
    /// `(S, H)` ∂L/∂f when requested.
    var dInput: Tensor? = nil
    /// Buffers of the fused `H → T → 1` path (``TwoLayerTower``).
    var twoLayer = TwoLayerScratch()
    /// Strided rows copied for the generic path of `adapt(rows:features:…)`.
    var stagedInput = Tensor(shape: [0, 0])
    var stagedLabels = Tensor(shape: [0])

    public init() {}

    mutating func prepareGradients(like tower: MLPParameters) {
        if gradients == nil || gradients!.layers.count != tower.layers.count
            || zip(gradients!.layers, tower.layers).contains(where: { $0.weight.shape != $1.weight.shape }) {
            gradients = tower.zeros()
        } else {
            for l in gradients!.layers.indices {
                gradients!.layers[l].weight.fill(0)
                gradients!.layers[l].bias.fill(0)
            }
        }
    }
}

extension TowerWorkspace {
    /// Copies `rows` strided rows of width `width` into ``stagedInput`` `(rows, width)`: the
    /// generic (tensor) paths of the strided `adapt` and `predictions`.
    mutating func stage(rows: Int, width: Int, features: UnsafePointer<Float>, featureStride: Int) {
        stagedInput.resize(rows: rows, columns: width)
        stagedInput.withUnsafeMutableBufferPointer { f in
            for i in 0..<rows { (f.baseAddress! + i * width).update(from: features + i * featureStride, count: width) }
        }
    }

    /// Copies `rows` (`H = width` columns of each) into ``stagedInput`` `(S, H)` and ``stagedLabels`` `(S)`: the generic (tensor)
    /// path of ``Tower/adapt(on:policy:normalizer:workspace:)``.
    mutating func stage(_ rows: TowerRows, width: Int) {
        stage(rows: rows.count, width: width, features: rows.features, featureStride: rows.featureStride)
        stagedLabels.resize(count: rows.count)
        stagedLabels.withUnsafeMutableBufferPointer { y in
            for s in 0..<rows.count { y[s] = rows.labels[s * rows.labelStride] }
        }
    }

    /// The gradient of the last ``TowerObjective/gradient`` call (tests).
    public var gradientsForTesting: MLPParameters? { gradients }
    /// The input gradient of the last ``TowerObjective/gradient`` call (tests).
    public var inputGradientForTesting: Tensor? { dInput }
}
