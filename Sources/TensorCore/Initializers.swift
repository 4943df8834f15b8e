/// Weight initialisers. `fanIn`/`fanOut` are the input/output widths of the layer.
extension Tensor {
    /// Xavier/Glorot uniform (Glorot & Bengio 2010): `U(-a, a)`, `a = sqrt(6 / (fanIn + fanOut))`.
    /// Suits sigmoid/softmax/linear outputs (gates, tower heads).
    public static func xavierUniform(
        shape: [Int], fanIn: Int, fanOut: Int, using rng: inout SeededRandom
    ) -> Tensor {
        let a = (6.0 / Float(fanIn + fanOut)).squareRoot()
        return uniform(shape: shape, bound: a, using: &rng)
    }

    /// He/Kaiming normal (He et al. 2015): `N(0, 2 / fanIn)`. Suits ReLU layers.
    public static func heNormal(shape: [Int], fanIn: Int, using rng: inout SeededRandom) -> Tensor {
        let std = (2.0 / Float(fanIn)).squareRoot()
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.scalars[i] = std * rng.nextNormal() }
        return t
    }

    /// Uniform in `[-bound, bound)`.
    public static func uniform(shape: [Int], bound: Float, using rng: inout SeededRandom) -> Tensor {
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.scalars[i] = (2 * rng.nextUniform() - 1) * bound }
        return t
    }

    /// Normal with the given standard deviation.
    public static func normal(shape: [Int], std: Float, using rng: inout SeededRandom) -> Tensor {
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.scalars[i] = std * rng.nextNormal() }
        return t
    }
}
