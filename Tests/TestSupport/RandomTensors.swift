import ModelMath
import TensorCore

/// Seeded random tensors for tests.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SeededRandom(seed: seed)
    return Tensor.uniform(shape: shape, bound: scale, using: &rng)
}

/// Naive reference kernels, written for clarity only.
public enum Reference {
    /// `op(A)·op(B)` in Double, as a Float tensor.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let n = transposeB ? b.rows : b.columns
        var c = Tensor(shape: [m, n])
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p, i] : a[i, p]
                    let y = transposeB ? b[j, p] : b[p, j]
                    s += Double(x) * Double(y)
                }
                c[i, j] = Float(s)
            }
        }
        return c
    }
}

/// Sets every STAR scene factor of `parameters` away from its 1 / 0 start (`W_s = 1 + 0.5·N`,
/// `b_s = 0.3·N`, seeded by task, scene and layer), so gradient checks see the product rule at work.
public func randomizeStarFactors(_ parameters: inout ModelParameters) {
    for k in parameters.starTowers.indices {
        for s in parameters.starTowers[k].indices {
            for l in parameters.starTowers[k][s].layers.indices {
                let seed = UInt64(100 * k + 10 * s + l)
                parameters.starTowers[k][s].layers[l].weight = randomTensor(parameters.starTowers[k][s].layers[l].weight.shape,
                                                                            seed: seed).map { 1 + 0.5 * $0 }
                parameters.starTowers[k][s].layers[l].bias = randomTensor(parameters.starTowers[k][s].layers[l].bias.shape,
                                                                          seed: seed + 7, scale: 0.3)
            }
        }
    }
}
