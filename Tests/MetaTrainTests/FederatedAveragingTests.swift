import MetaTrain
import ModelMath
import PrivacyAccounting
import TensorCore
import Testing

/// DP-FedAvg over the towers against direct computations: the average of local updates, clipping,
/// the accountant, the budget, participation caps, and a planted signal it must learn.
@Suite struct FederatedAveragingTests {
    static let (h, k) = (4, 2)

    static func towers(seed: UInt64) -> [Tower] {
        var rng = SeededRandom(seed: seed)
        return [Tower(parameters: MLPParameters(widths: [h, 3, 1], activatesLast: false, using: &rng), kind: .regression, activation: .tanh),
                Tower(parameters: MLPParameters(widths: [h, 3, 1], activatesLast: false, using: &rng), kind: .binary, activation: .tanh)]
    }

    /// `n` clients of `rows` rows each: `f` uniform, regression label `2 f₀ − f₁`, binary label `f₂ > 0`.
    static func clients(_ n: Int, rows: Int, seed: UInt64) -> [FederatedAveraging.ClientRows] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { c in
            var f: [Float] = [], y: [Float] = []
            for _ in 0..<rows {
                let row = (0..<(k * h)).map { _ in 2 * rng.nextUniform() - 1 }
                f += row
                y += [2 * row[0] - row[1], row[h + 2] > 0 ? 1 : 0]
            }
            return .init(key: UInt64(c), features: f, labels: y, count: rows)
        }
    }

    /// Tower `t` adapted on client `c`'s rows (the reference local update).
    static func adapted(_ tower: Tower, _ t: Int, _ client: FederatedAveraging.ClientRows, _ settings: FederatedSettings) -> MLPParameters {
        var ws = TowerWorkspace()
        var block: [Float] = []
        for r in 0..<client.count {
            let start = r * k * h + t * h
            block += client.features[start..<(start + h)]
        }
        let columns = Tensor(shape: [client.count, h], scalars: block)
        let labels = Tensor(shape: [client.count], scalars: (0..<client.count).map { client.labels[$0 * k + t] })
        return tower.adapted(on: columns, labels: labels, policy: Adaptation(steps: settings.localSteps, learningRate: settings.localLearningRate),
                             workspace: &ws).parameters
    }

    @Test func `without noise or clipping, one round adds the mean local update to every tower`() throws {
        let towers = Self.towers(seed: 1), clients = Self.clients(5, rows: 6, seed: 2)
        let settings = FederatedSettings(rounds: 1, samplingRate: 1, localSteps: 3, localLearningRate: 0.1, clipNorm: 1e9,
                                         noiseMultiplier: 0, serverLearningRate: 1)
        var fed = try FederatedAveraging(towers: towers, clients: clients, settings: settings)
        let round = fed.runRound()
        let report = try #require(round)
        #expect(report.participants == 5 && report.clippedShare == 0 && report.epsilon == .infinity)
        for t in 0..<Self.k {
            var expected = towers[t].parameters
            for c in clients {
                let local = Self.adapted(towers[t], t, c, settings)
                for l in expected.layers.indices {
                    expected.layers[l].weight.addScaled(local.layers[l].weight - towers[t].parameters.layers[l].weight, by: 0.2)
                    expected.layers[l].bias.addScaled(local.layers[l].bias - towers[t].parameters.layers[l].bias, by: 0.2)
                }
            }
            for (got, want) in zip(fed.towers[t].parameters.layers, expected.layers) {
                #expect((got.weight - want.weight).squaredNorm() < 1e-10 && (got.bias - want.bias).squaredNorm() < 1e-10)
            }
        }
    }

    @Test func `clipped updates move the towers by at most S times the participants over qN`() throws {
        let towers = Self.towers(seed: 3), clients = Self.clients(8, rows: 10, seed: 4)
        let settings = FederatedSettings(rounds: 1, samplingRate: 0.5, localSteps: 5, localLearningRate: 2, clipNorm: 0.01,
                                         noiseMultiplier: 0, seed: 5)
        var fed = try FederatedAveraging(towers: towers, clients: clients, settings: settings)
        let round = fed.runRound()
        let report = try #require(round)
        #expect(report.participants > 0 && report.clippedShare == 1)
        var moved = 0.0
        for t in 0..<Self.k {
            for (a, b) in zip(fed.towers[t].parameters.layers, towers[t].parameters.layers) {
                moved += (a.weight - b.weight).squaredNorm() + (a.bias - b.bias).squaredNorm()
            }
        }
        let bound = 0.01 * Double(report.participants) / (0.5 * 8)
        #expect(moved.squareRoot() <= bound * (1 + 1e-4))
        #expect(moved.squareRoot() > bound * 0.5, "the clipped updates did move the towers")
    }

    @Test func `ε is the accountant's over the rounds run, and the budget stops the run before it is exceeded`() throws {
        let settings = FederatedSettings(rounds: 1000, samplingRate: 0.1, localSteps: 1, clipNorm: 1, noiseMultiplier: 1.5,
                                         delta: 1e-5, epsilonBudget: 4, seed: 6)
        var fed = try FederatedAveraging(towers: Self.towers(seed: 7), clients: Self.clients(20, rows: 3, seed: 8), settings: settings)
        var rounds = 0
        while fed.runRound() != nil { rounds += 1 }
        var reference = RDPAccountant()
        reference.composeSampledGaussian(samplingRate: 0.1, noiseMultiplier: 1.5, count: rounds)
        #expect(rounds > 0 && rounds < 1000)
        #expect(abs(fed.epsilon - reference.epsilon(delta: 1e-5).epsilon) < 1e-9 * fed.epsilon)
        #expect(fed.epsilon <= 4)
        reference.composeSampledGaussian(samplingRate: 0.1, noiseMultiplier: 1.5)
        #expect(reference.epsilon(delta: 1e-5).epsilon > 4, "one more round would exceed the budget")
    }

    @Test func `local noise needs a participation cap and respects it`() throws {
        #expect(throws: FederatedError.self) {
            try FederatedSettings(rounds: 5, samplingRate: 1, noise: .local).validate()
        }
        let settings = FederatedSettings(rounds: 5, samplingRate: 1, localSteps: 1, noiseMultiplier: 2, noise: .local,
                                         maxParticipations: 2, seed: 9)
        var fed = try FederatedAveraging(towers: Self.towers(seed: 10), clients: Self.clients(3, rows: 4, seed: 11), settings: settings)
        let participants = (0..<5).compactMap { _ in fed.runRound()?.participants }
        #expect(participants == [3, 3, 0, 0, 0])
        var reference = RDPAccountant()
        // Two datasets of one client give clipped updates up to 2S apart: σ = 2 accounts as 1.
        reference.composeSampledGaussian(samplingRate: 1, noiseMultiplier: 1, count: 2)
        #expect(abs(fed.epsilon - reference.epsilon(delta: 1e-5).epsilon) < 1e-9 * fed.epsilon, "a client's ε: its two uploads at sensitivity 2S")
    }

    @Test func `a planted signal is learned through clipped, noisy rounds`() throws {
        let clients = Self.clients(200, rows: 8, seed: 12), towers = Self.towers(seed: 13)
        let settings = FederatedSettings(rounds: 60, samplingRate: 0.2, localSteps: 5, localLearningRate: 0.1, clipNorm: 0.5,
                                         noiseMultiplier: 0.8, serverLearningRate: 1, seed: 14)
        var fed = try FederatedAveraging(towers: towers, clients: clients, settings: settings)
        func loss(_ tower: Tower) -> Double {
            var ws = TowerWorkspace()
            var features: [Float] = [], labels: [Float] = []
            for c in clients {
                for r in 0..<c.count {
                    let start = r * Self.k * Self.h
                    features += c.features[start..<(start + Self.h)]
                    labels.append(c.labels[r * Self.k])
                }
            }
            let f = Tensor(shape: [labels.count, Self.h], scalars: features), y = Tensor(shape: [labels.count], scalars: labels)
            return TowerObjective.loss(tower, input: f, labels: y, workspace: &ws)
        }
        let before = loss(fed.towers[0])
        while fed.runRound() != nil {}
        let after = loss(fed.towers[0])
        #expect(after < 0.5 * before, "regression loss \(before) → \(after)")
        #expect(fed.epsilon.isFinite && fed.epsilon > 0)
    }
}
