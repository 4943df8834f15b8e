import TensorCore

extension MLPParameters {
    /// Copies `source`'s scalars into this tower's existing storage (same shapes); unlike
    /// `self = source` this never shares storage, so the next in-place update does not allocate
    /// (the serving predictor resets each task's fast weights this way on every request).
    public mutating func overwrite(with source: MLPParameters) {
        for l in layers.indices {
            layers[l].weight.assign(source.layers[l].weight)
            layers[l].bias.assign(source.layers[l].bias)
        }
    }

    /// Whether every weight and bias is finite.
    public var isFinite: Bool {
        for layer in layers where !(layer.weight.isFinite && layer.bias.isFinite) {
            return false
        }
        return true
    }
}
