/// Ridge regression in closed form, the solve behind matrix factorisation's ALS steps and the
/// per-user fold-in:
///
/// ```
/// x = argmin_x ‖A x − y‖² + λ‖x‖²  =  (AᵀA + λI)⁻¹ Aᵀy          A: (n, d), y: (n), x: (d)
/// ```
/// The normal equations are accumulated row by row (``RidgeSystem``) and solved by Cholesky
/// factorisation `AᵀA + λI = L Lᵀ` (symmetric positive definite for λ > 0), in `Double`.
public enum RidgeRegression {
    /// `(AᵀA + λI)⁻¹ Aᵀy` for row-major `rows` `(n, d)` and `targets` `(n)`.
    /// - Parameters:
    ///   - l2: λ > 0.
    /// - Complexity: O(n·d² + d³).
    public static func solve(rows: [Double], targets: [Double], dimension d: Int, l2: Double) -> [Double] {
        precondition(d > 0 && rows.count == targets.count * d,
                     "RidgeRegression: \(rows.count) values are not \(targets.count) rows × \(d)")
        var system = RidgeSystem(dimension: d)
        rows.withUnsafeBufferPointer { a in
            for r in targets.indices {
                system.add(UnsafeBufferPointer(rebasing: a[(r * d)..<((r + 1) * d)]), constant: false, target: targets[r])
            }
        }
        var x = [Double](repeating: 0, count: d)
        system.solve(l2: l2, into: &x)
        return x
    }
}

/// The normal equations `G = AᵀA`, `b = Aᵀy` of a ridge regression, accumulated one row at a
/// time; reusable (``reset()``) so ALS allocates nothing per user or item.
///
/// A row may be *augmented* with a trailing constant 1 (`constant: true`): its last coefficient
/// is then an intercept (a per-user or per-item bias), regularised like the others.
struct RidgeSystem {
    /// `d`, including the constant column when rows are augmented.
    let dimension: Int
    /// `(d, d)` row-major, the lower triangle is accumulated (the upper is ignored).
    var gram: [Double]
    /// `(d)`.
    var rhs: [Double]
    /// Cholesky factor scratch, `(d, d)`.
    private var factor: [Double]

    init(dimension d: Int) {
        precondition(d > 0, "RidgeSystem: dimension \(d)")
        dimension = d
        gram = [Double](repeating: 0, count: d * d)
        rhs = [Double](repeating: 0, count: d)
        factor = gram
    }

    mutating func reset() {
        for i in gram.indices { gram[i] = 0 }
        for i in rhs.indices { rhs[i] = 0 }
    }

    /// `G += a aᵀ`, `b += a·y` for `a = features` (`d` values) or `a = (features, 1)` (`d − 1`
    /// values, `constant: true`).
    mutating func add(_ features: UnsafeBufferPointer<Double>, constant: Bool, target y: Double) {
        let d = dimension, m = constant ? d - 1 : d
        precondition(features.count == m, "RidgeSystem.add: \(features.count) features, expected \(m)")
        gram.withUnsafeMutableBufferPointer { g in
            rhs.withUnsafeMutableBufferPointer { b in
                for i in 0..<m {
                    let ai = features[i]
                    b[i] += ai * y
                    let row = i * d
                    for j in 0...i { g[row + j] += ai * features[j] }
                }
                if constant {
                    let row = (d - 1) * d
                    for j in 0..<m { g[row + j] += features[j] }
                    g[row + d - 1] += 1
                    b[d - 1] += y
                }
            }
        }
    }

    /// Writes `(G + λI)⁻¹ b` into `x` (`d` values).
    mutating func solve(l2 lambda: Double, into x: inout [Double]) {
        precondition(lambda > 0, "RidgeSystem.solve: λ = \(lambda) must be > 0")
        let d = dimension
        precondition(x.count == d, "RidgeSystem.solve: x has \(x.count) values, d = \(d)")
        factor.withUnsafeMutableBufferPointer { l in
            gram.withUnsafeBufferPointer { g in
                // Cholesky–Banachiewicz: L[i][j] = (G[i][j] − Σ_{k<j} L[i][k] L[j][k]) / L[j][j].
                for i in 0..<d {
                    for j in 0...i {
                        var s = g[i * d + j] + (i == j ? lambda : 0)
                        for k in 0..<j { s -= l[i * d + k] * l[j * d + k] }
                        if i == j {
                            // G + λI is positive definite; max() only guards against rounding.
                            l[i * d + i] = max(s, .leastNormalMagnitude).squareRoot()
                        } else {
                            l[i * d + j] = s / l[j * d + j]
                        }
                    }
                }
            }
            // L z = b, then Lᵀ x = z.
            for i in 0..<d {
                var s = rhs[i]
                for k in 0..<i { s -= l[i * d + k] * x[k] }
                x[i] = s / l[i * d + i]
            }
            for i in stride(from: d - 1, through: 0, by: -1) {
                var s = x[i]
                for k in (i + 1)..<d { s -= l[k * d + i] * x[k] }
                x[i] = s / l[i * d + i]
            }
        }
    }
}
