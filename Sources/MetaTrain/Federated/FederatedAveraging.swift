import ModelMath
import PrivacyAccounting
import TensorCore

/// A DP-FedAvg simulation over the towers (docs/DESIGN.md §Federated): clients are task keys
/// (users) holding their own rows' meta-layer inputs `f` (computed once by the model's fixed
/// bottom, as a device would) and labels; only tower updates leave a client. Per round:
///
/// ```
/// C_t    = {u : Bernoulli(q)}, minus clients at their participation cap
/// Δ_u    = adapt(θ on u's rows, k steps, α) − θ                  every tower, one vector
/// Δ̄_u    = Δ_u · min(1, S / ‖Δ_u‖₂)                               clipped
///          + N(0, σ²S² I)                                          (local noise: on each upload)
/// θ     += η · (Σ_{u∈C_t} Δ̄_u + N(0, σ²S² I)) / (q N)              (central noise: on the sum)
/// ```
/// Dividing by the expected count `q N`, not `|C_t|`, keeps the sensitivity of the average at
/// `S / (q N)` (McMahan et al. 2018). Central noise is accounted as the Poisson-subsampled
/// Gaussian mechanism per round (``RDPAccountant``); local noise as a Gaussian mechanism per
/// upload, composed over the participation cap. The local steps are ``Tower/adapt(on:policy:normalizer:workspace:)``,
/// the code training's inner loop and serving use.
public struct FederatedAveraging {
    public let settings: FederatedSettings
    /// The global towers `θ`, updated every round.
    public internal(set) var towers: [Tower]
    /// Per client: `f` `(n, K·H)`, labels `(n, K)`.
    public let clients: [ClientRows]
    public internal(set) var accountant = RDPAccountant()
    public internal(set) var roundsRun = 0
    /// One round's (central) or one upload's (local) RDP, computed once.
    let step: RDPAccountant
    var participations: [Int]
    var rng: SeededRandom
    private var workspace = TowerWorkspace()

    /// One client's local data.
    public struct ClientRows: Sendable {
        public var key: UInt64
        public var features: [Float]
        public var labels: [Float]
        public var count: Int

        public init(key: UInt64, features: [Float], labels: [Float], count: Int) {
            (self.key, self.features, self.labels, self.count) = (key, features, labels, count)
        }
    }

    /// What one round did.
    public struct RoundReport: Sendable, Equatable {
        public var round: Int
        public var participants: Int
        /// Share of participants whose update was clipped.
        public var clippedShare: Double
        /// ε(δ) spent so far (∞ without noise).
        public var epsilon: Double
    }

    public init(towers: [Tower], clients: [ClientRows], settings: FederatedSettings) throws(FederatedError) {
        try settings.validate()
        guard clients.contains(where: { $0.count > 0 }) else { throw .noClients }
        self.towers = towers
        self.clients = clients
        self.settings = settings
        self.participations = [Int](repeating: 0, count: clients.count)
        self.rng = SeededRandom(seed: settings.seed)
        var step = RDPAccountant()
        step.composeSampledGaussian(samplingRate: settings.noise == .central ? settings.samplingRate : 1,
                                    noiseMultiplier: settings.accountedNoiseMultiplier)
        self.step = step
    }

    /// ε(δ) spent so far: ∞ when σ = 0 and a round ran.
    public var epsilon: Double {
        guard roundsRun > 0 else { return 0 }
        guard settings.noiseMultiplier > 0 else { return .infinity }
        return accountant.epsilon(delta: settings.delta).epsilon
    }

    /// The accountant after one more round (what ``runRound()`` would spend).
    func accountantAfterRound() -> RDPAccountant {
        var next = accountant
        // Central: one subsampled Gaussian per round. Local: a client's own guarantee, one
        // Gaussian mechanism per upload, at most the cap.
        if settings.noise == .central || roundsRun < (settings.maxParticipations ?? .max) { next.compose(step) }
        return next
    }

    /// Runs one round; nil when every round has run or the ε budget forbids another (nothing
    /// changes then).
    public mutating func runRound() -> RoundReport? {
        guard roundsRun < settings.rounds else { return nil }
        let next = accountantAfterRound()
        if let budget = settings.epsilonBudget, settings.noiseMultiplier > 0,
           next.epsilon(delta: settings.delta).epsilon > budget { return nil }
        var sum = towers.map { $0.parameters.zeros() }
        var (participants, clipped) = (0, 0)
        for c in clients.indices {
            let sampled = rng.nextUniform() < Float(settings.samplingRate)
            guard sampled, clients[c].count > 0, participations[c] < (settings.maxParticipations ?? .max) else { continue }
            participations[c] += 1
            participants += 1
            var update = localUpdate(clients[c])
            if Self.clip(&update, to: settings.clipNorm) { clipped += 1 }
            if settings.noise == .local { addNoise(to: &update) }
            for k in sum.indices { sum[k].addScaled(update[k], by: 1) }
        }
        if settings.noise == .central { addNoise(to: &sum) }
        let scale = settings.serverLearningRate / Float(settings.samplingRate * Double(clients.count))
        for k in towers.indices { towers[k].parameters.addScaled(sum[k], by: scale) }
        accountant = next
        roundsRun += 1
        return RoundReport(round: roundsRun, participants: participants,
                           clippedShare: participants > 0 ? Double(clipped) / Double(participants) : 0, epsilon: epsilon)
    }

    /// `adapt(θ on the client's rows) − θ`, per tower.
    mutating func localUpdate(_ client: ClientRows) -> [MLPParameters] {
        let policy = Adaptation(steps: settings.localSteps, learningRate: settings.localLearningRate)
        let k = towers.count, h = towers[0].parameters.inputWidth
        var out: [MLPParameters] = []
        client.features.withUnsafeBufferPointer { f in
            client.labels.withUnsafeBufferPointer { y in
                for t in 0..<k {
                    let rows = TowerRows(count: client.count, features: f.baseAddress! + t * h, featureStride: k * h,
                                         labels: y.baseAddress! + t, labelStride: k)
                    let adapted = towers[t].adapted(on: rows, policy: policy, workspace: &workspace)
                    var delta = adapted.parameters
                    delta.addScaled(towers[t].parameters, by: -1)
                    out.append(delta)
                }
            }
        }
        return out
    }

    /// Scales `update` (all towers, one vector) to L2 norm ≤ `s`; returns whether it was clipped.
    static func clip(_ update: inout [MLPParameters], to s: Double) -> Bool {
        let norm = update.reduce(0.0) { $0 + $1.squaredNorm }.squareRoot()
        guard norm > s else { return false }
        let factor = Float(s / norm)
        for k in update.indices { update[k].scale(by: factor) }
        return true
    }

    /// Adds `N(0, σ²S²)` to every scalar of `update`.
    mutating func addNoise(to update: inout [MLPParameters]) {
        let std = Float(settings.noiseMultiplier * settings.clipNorm)
        guard std > 0 else { return }
        for k in update.indices {
            for l in update[k].layers.indices {
                update[k].layers[l].weight.withUnsafeMutableBufferPointer { w in
                    for i in w.indices { w[i] += std * rng.nextNormal() }
                }
                update[k].layers[l].bias.withUnsafeMutableBufferPointer { b in
                    for i in b.indices { b[i] += std * rng.nextNormal() }
                }
            }
        }
    }
}

extension MLPParameters {
    /// `Σ` of every scalar squared, in Double.
    var squaredNorm: Double {
        layers.reduce(0.0) { $0 + $1.weight.squaredNorm() + $1.bias.squaredNorm() }
    }

    /// `self *= factor`.
    mutating func scale(by factor: Float) {
        for l in layers.indices {
            layers[l].weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] *= factor } }
            layers[l].bias.withUnsafeMutableBufferPointer { b in for i in b.indices { b[i] *= factor } }
        }
    }
}
