import ModelMath
import PrivacyAccounting
import TensorCore

extension FederatedAveraging {
    /// Everything a resumed run needs to continue exactly where this one stopped: the global
    /// towers, the rounds run, each client's participations and the random stream's position
    /// (sampling and noise). The accountant is recomputed from the rounds run.
    public struct Snapshot: Codable, Sendable, Equatable {
        public var roundsRun: Int
        public var participations: [Int]
        /// ``TensorCore/SeededRandom/words``.
        public var random: [UInt64]
        /// Per tower: every layer's weight `(in, out)` then bias `(out)` scalars, in layer order.
        public var towers: [[Float]]
    }

    public func snapshot() -> Snapshot {
        Snapshot(roundsRun: roundsRun, participations: participations, random: rng.words,
                 towers: towers.map { tower in tower.parameters.layers.flatMap { $0.weight.scalars + $0.bias.scalars } })
    }

    /// Continues from `snapshot` (taken from a run with the same clients and settings).
    ///
    /// - Throws: ``FederatedError/checkpointMismatch(path:reason:)`` (path `snapshot`) when its
    ///   shapes do not fit this run; nothing changes then.
    public mutating func restore(_ snapshot: Snapshot) throws(FederatedError) {
        func fail(_ reason: String) -> FederatedError { .checkpointMismatch(path: "snapshot", reason: reason) }
        guard snapshot.participations.count == clients.count else {
            throw fail("\(snapshot.participations.count) clients, this run has \(clients.count)")
        }
        guard (0...settings.rounds).contains(snapshot.roundsRun), snapshot.random.count == 4, snapshot.random.contains(where: { $0 != 0 }) else {
            throw fail("round \(snapshot.roundsRun) of \(settings.rounds), or a damaged random state")
        }
        let sizes = towers.map { $0.parameters.layers.reduce(0) { $0 + $1.weight.count + $1.bias.count } }
        guard snapshot.towers.map(\.count) == sizes else { throw fail("tower sizes \(snapshot.towers.map(\.count)), expected \(sizes)") }
        for t in towers.indices {
            var offset = 0
            for l in towers[t].parameters.layers.indices {
                let (w, b) = (towers[t].parameters.layers[l].weight, towers[t].parameters.layers[l].bias)
                towers[t].parameters.layers[l].weight = Tensor(shape: w.shape, scalars: Array(snapshot.towers[t][offset..<(offset + w.count)]))
                offset += w.count
                towers[t].parameters.layers[l].bias = Tensor(shape: b.shape, scalars: Array(snapshot.towers[t][offset..<(offset + b.count)]))
                offset += b.count
            }
        }
        participations = snapshot.participations
        rng = SeededRandom(words: snapshot.random)
        roundsRun = snapshot.roundsRun
        // Central: one subsampled Gaussian a round; local: one Gaussian an upload, up to the cap.
        accountant = RDPAccountant()
        accountant.compose(step, count: settings.noise == .central ? roundsRun : min(roundsRun, settings.maxParticipations ?? roundsRun))
    }
}
