import ModelMath
import TensorCore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The closed-form (ridge) head against a naive solve of the normal equations.
@Suite struct RidgeHeadTests {
    /// Gaussian elimination with partial pivoting, in Double: the naive reference for `M x = b`.
    static func solve(_ m: [[Double]], _ b: [Double]) -> [Double] {
        var a = m, x = b
        let n = b.count
        for c in 0..<n {
            let p = (c..<n).max { abs(a[$0][c]) < abs(a[$1][c]) }!
            a.swapAt(c, p); x.swapAt(c, p)
            for r in (c + 1)..<n {
                let f = a[r][c] / a[c][c]
                for k in c..<n { a[r][k] -= f * a[c][k] }
                x[r] -= f * x[c]
            }
        }
        for r in stride(from: n - 1, through: 0, by: -1) {
            for k in (r + 1)..<n { x[r] -= a[r][k] * x[k] }
            x[r] /= a[r][r]
        }
        return x
    }

    @Test(arguments: [1, 5, 40], [RidgeScale.mean, .sum])
    func `a ridge head on the squared error is the ridge regression of the labels on the hidden layer`(rows: Int,
                                                                                                     scale: RidgeScale) {
        var rng = SeededRandom(seed: UInt64(rows))
        let theta = MLPParameters(widths: [6, 4, 1], activatesLast: false, using: &rng)
        let f = randomTensor([rows, 6], seed: 7)
        let y = Tensor(shape: [rows], scalars: (0..<rows).map { _ in 1 + 4 * rng.nextUniform() })
        let l2: Float = 0.5
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .regression, activation: .tanh)
        let solved = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: l2, scale: scale)),
                                   workspace: &ws).parameters
        // Reference: minimise c Σ (J w − y)² + (λ/2) ‖w − w0‖², J = [tanh(F W1 + b1) | 1], c = 1/n
        // (scale .mean) or 1 (.sum): (2c JᵀJ + λ I) w = 2c Jᵀ y + λ w0.
        let hidden = (0..<rows).map { r in
            (0..<4).map { j in
                var z = Double(theta.layers[0].bias.scalars[j])
                for i in 0..<6 { z += Double(f.scalars[r * 6 + i]) * Double(theta.layers[0].weight.scalars[i * 4 + j]) }
                return tanh(z)
            } + [1.0]
        }
        let w0 = theta.layers[1].weight.scalars.map(Double.init) + [Double(theta.layers[1].bias.scalars[0])]
        let c = scale == .mean ? 1 / Double(rows) : 1
        var m = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 5)
        var b = [Double](repeating: 0, count: 5)
        for r in 0..<rows {
            for i in 0..<5 {
                b[i] += 2 * c * hidden[r][i] * Double(y.scalars[r])
                for j in 0..<5 { m[i][j] += 2 * c * hidden[r][i] * hidden[r][j] }
            }
        }
        for i in 0..<5 { m[i][i] += Double(l2); b[i] += Double(l2) * w0[i] }
        let expected = Self.solve(m, b)
        let got = solved.layers[1].weight.scalars.map(Double.init) + [Double(solved.layers[1].bias.scalars[0])]
        for i in 0..<5 { #expect(abs(got[i] - expected[i]) <= 1e-4 * max(1, abs(expected[i])), "w[\(i)]") }
        #expect(solved.layers[0] == theta.layers[0], "the hidden layer is not part of the solve")
    }

    @Test(arguments: [RidgeScale.mean, .sum])
    func `unlabelled support rows change nothing: n is the labelled count`(scale: RidgeScale) {
        var rng = SeededRandom(seed: 21)
        let theta = MLPParameters(widths: [6, 4, 1], activatesLast: false, using: &rng)
        let f = randomTensor([12, 6], seed: 22)
        let y = Tensor(shape: [12], scalars: (0..<12).map { i in i % 3 == 0 ? .nan : 1 + 4 * rng.nextUniform() })
        let kept = (0..<12).filter { $0 % 3 != 0 }
        let fKept = Tensor(shape: [kept.count, 6], scalars: kept.flatMap { r in f.scalars[(r * 6)..<(r * 6 + 6)] })
        let yKept = Tensor(shape: [kept.count], scalars: kept.map { y.scalars[$0] })
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .regression, activation: .tanh)
        let policy = Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 3, scale: scale))
        let all = tower.adapted(on: f, labels: y, policy: policy, workspace: &ws).parameters
        let labelled = tower.adapted(on: fKept, labels: yKept, policy: policy, workspace: &ws).parameters
        expectClose(all.layers[1].weight, labelled.layers[1].weight, rtol: 1e-5, atol: 1e-6, "\(scale)")
        expectClose(all.layers[1].bias, labelled.layers[1].bias, rtol: 1e-5, atol: 1e-6, "\(scale)")
    }

    @Test func `a summed-loss ridge head on a binary tower stays finite for a heavy one-class user`() {
        var rng = SeededRandom(seed: 23)
        let theta = MLPParameters(widths: [6, 5, 1], activatesLast: false, using: &rng)
        let f = randomTensor([500, 6], seed: 24)
        let y = Tensor(shape: [500], scalars: Array(repeating: 1, count: 500))
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .binary, activation: .relu)
        let solved = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 1, scale: .sum)),
                                   workspace: &ws)
        let head = solved.parameters.layers[1].weight.scalars + solved.parameters.layers[1].bias.scalars
        #expect(head.allSatisfy { $0.isFinite })
        let before = TowerObjective.loss(tower, input: f, labels: y, workspace: &ws)
        let after = TowerObjective.loss(solved, input: f, labels: y, workspace: &ws)
        #expect(after < before, "one Newton step toward the all-positive labels: \(before) → \(after)")
    }

    @Test func `a ridge head lowers the penalised binary loss`() {
        var rng = SeededRandom(seed: 3)
        let theta = MLPParameters(widths: [6, 5, 1], activatesLast: false, using: &rng)
        let f = randomTensor([30, 6], seed: 9)
        let y = Tensor(shape: [30], scalars: (0..<30).map { i in f.scalars[i * 6] > 0 ? 1 : 0 })
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: .binary, activation: .relu)
        let solved = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 0, learningRate: 0.1, head: .ridge(l2: 0.1)),
                                   workspace: &ws)
        let before = TowerObjective.loss(tower, input: f, labels: y, workspace: &ws)
        var penalty = 0.0
        for (a, b) in zip(solved.parameters.layers[1].weight.scalars + solved.parameters.layers[1].bias.scalars,
                          theta.layers[1].weight.scalars + theta.layers[1].bias.scalars) {
            penalty += 0.05 * Double(a - b) * Double(a - b)
        }
        let after = TowerObjective.loss(solved, input: f, labels: y, workspace: &ws) + penalty
        #expect(after < before - 1e-3)
    }
}

@Suite struct OffsetHeadTests {
    @Test(arguments: [TaskKind.binary, .regression])
    func `the offset head fits the bias alone and keeps every order`(kind: TaskKind) {
        var rng = SeededRandom(seed: 8)
        let theta = MLPParameters(widths: [4, 6, 1], activatesLast: false, using: &rng)
        let f = randomTensor([12, 4], seed: 2)
        let y = Tensor(shape: [12], scalars: (0..<12).map { i in kind == .binary ? Float(i % 3 == 0 ? 1 : 0) : 3 + Float(i % 4) })
        var ws = TowerWorkspace()
        let tower = Tower(parameters: theta, kind: kind, activation: .tanh)
        let fitted = tower.adapted(on: f, labels: y, policy: Adaptation(steps: 0, learningRate: 0.1, head: .offset), workspace: &ws)
        #expect(fitted.parameters.layers[0] == theta.layers[0])
        #expect(fitted.parameters.layers[1].weight == theta.layers[1].weight)
        // The bias is at the optimum of the pointwise loss: its derivative there is zero.
        var z: [Float] = []
        fitted.predictions(f, into: &z, workspace: &ws)
        let derivative = zip(z, y.scalars).reduce(0.0) { $0 + Double($1.0 - $1.1) }   // σ(z) − y or z − y, summed
        #expect(abs(derivative) < 1e-3)
        var before: [Float] = []
        tower.predictions(f, into: &before, workspace: &ws)
        #expect(before.indices.sorted { before[$0] < before[$1] } == z.indices.sorted { z[$0] < z[$1] })
        #expect(before != z)
    }
}
