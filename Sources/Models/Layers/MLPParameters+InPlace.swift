import TensorCore

extension MLPParameters {
    /// Copies `source`'s scalars into this tower's existing storage (same shapes); unlike
    /// `self = source` this never shares storage, so the next in-place update does not allocate
    /// (the serving predictor resets each task's fast weights this way on every request).
    public mutating func overwrite(with source: MLPParameters) {
        for l in layers.indices {
            Self.copy(source.layers[l].weight, into: &layers[l].weight)
            Self.copy(source.layers[l].bias, into: &layers[l].bias)
        }
    }

    /// Whether every weight and bias is finite.
    public var isFinite: Bool {
        for layer in layers where !(layer.weight.isFinite && layer.bias.isFinite) {
            return false
        }
        return true
    }

    private static func copy(_ source: Tensor, into destination: inout Tensor) {
        precondition(source.shape == destination.shape, "overwrite: \(source.shape) into \(destination.shape)")
        source.withUnsafeBufferPointer { src in
            destination.withUnsafeMutableBufferPointer { dst in
                dst.baseAddress!.update(from: src.baseAddress!, count: src.count)
            }
        }
    }
}
