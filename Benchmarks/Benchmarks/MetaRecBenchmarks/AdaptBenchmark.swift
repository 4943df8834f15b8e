import Benchmark
import ModelDescription
import ModelMath
import TensorCore

/// One tower's MAML inner loop (Finn et al. 2017) at the reference serving shape: a
/// 64 → 64 → 1 ReLU tower, 64 support rows, 3 SGD steps at α = 0.05, binary task.
final class AdaptProblem {
    let base: MLPParameters
    var fast: MLPParameters
    let support: Tensor // (S, H) = (64, 64)
    let labels: Tensor  // (S) 0/1
    var workspace = TowerWorkspace()
    let adaptation = Adaptation(steps: 3, learningRate: 0.05)

    init(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        base = MLPParameters(widths: [64, 64, 1], activatesLast: false, using: &rng)
        fast = base
        // `assign` below writes in place only into buffers `fast` owns alone.
        for l in fast.layers.indices {
            fast.layers[l].weight = Tensor(shape: base.layers[l].weight.shape)
            fast.layers[l].bias = Tensor(shape: base.layers[l].bias.shape)
        }
        support = Tensor(shape: [64, 64], scalars: (0..<(64 * 64)).map { _ in rng.nextNormal() })
        labels = Tensor(shape: [64], scalars: (0..<64).map { _ in Float(rng.next() % 2) })
    }

    /// `fast ← θ`, then `k` steps on the support loss.
    func run() {
        for l in fast.layers.indices {
            fast.layers[l].weight.assign(base.layers[l].weight)
            fast.layers[l].bias.assign(base.layers[l].bias)
        }
        fast = Tower(parameters: fast, rates: nil, kind: .binary, activation: .relu).adapted(on: support, labels: labels, policy: adaptation, workspace: &workspace).parameters
    }

    /// Traps unless adapting lowers the support loss to a finite value (the property serving relies on).
    func validate() {
        run()
        let before = TowerObjective.loss(Tower(parameters: base, rates: nil, kind: .binary, activation: .relu), input: support, labels: labels, workspace: &workspace)
        let after = TowerObjective.loss(Tower(parameters: fast, rates: nil, kind: .binary, activation: .relu), input: support, labels: labels, workspace: &workspace)
        precondition(after.isFinite && after < before, "adapt: support loss \(before) → \(after) did not drop")
    }
}

func adaptBenchmark() {
    let problem = Fixture<AdaptProblem>()
    Benchmark(
        "adapt-S64-k3",
        configuration: .init(setup: {
            let p = AdaptProblem(seed: 5)
            p.validate()
            p.run() // sizes the workspace
            problem.value = p
        }, teardown: { problem.value = nil })
    ) { benchmark in
        let p = problem.unwrapped
        for _ in benchmark.scaledIterations { p.run() }
        blackHole(p.fast.layers[1].bias.scalars[0])
    }
}
