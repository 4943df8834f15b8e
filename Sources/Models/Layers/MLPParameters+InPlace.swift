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
        for layer in layers where !(Self.allFinite(layer.weight) && Self.allFinite(layer.bias)) {
            return false
        }
        return true
    }

    /// Whether every element is finite: `x · 0` is 0 for a finite `x` and NaN for ±∞ or NaN,
    /// so the sum of `x · 0` over 8 lanes at a time is 0 exactly when all are finite (no early
    /// exit and no per-element branch: a tower's weights are checked on every request).
    private static func allFinite(_ t: Tensor) -> Bool {
        t.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return true }
            var lanes = SIMD8<Float>()
            var i = 0
            let raw = UnsafeRawPointer(base)
            while i + 8 <= p.count {
                lanes += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * 0
                i += 8
            }
            var tail: Float = 0
            while i < p.count { tail += p[i] * 0; i += 1 }
            return lanes.sum() + tail == 0
        }
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
