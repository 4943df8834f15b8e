import ModelMath
@testable import MetaTrain
import TensorCore
import Testing

/// What leaves a client: the upload is its tower update alone — a function of its rows and the
/// global towers, the same whatever its user id — and, clipped, never longer than S.
@Suite struct FederatedUploadTests {
    typealias Fixture = FederatedAveragingTests

    @Test func `an upload carries no user id: the same rows under another key give the same update`() throws {
        let clients = Fixture.clients(3, rows: 7, seed: 4)
        var renamed = clients
        for c in renamed.indices { renamed[c].key = 0xDEAD_BEEF &+ UInt64(c) * 7_919 }
        let settings = FederatedSettings(rounds: 2, samplingRate: 1, localSteps: 3, localLearningRate: 0.1, clipNorm: 0.5,
                                         noiseMultiplier: 0.7, seed: 3)
        var a = try FederatedAveraging(towers: Fixture.towers(seed: 1), clients: clients, settings: settings)
        var b = try FederatedAveraging(towers: Fixture.towers(seed: 1), clients: renamed, settings: settings)
        for c in clients.indices {
            // The upload's type is the towers' parameters: weights and biases, nothing else.
            let upload: [MLPParameters] = a.localUpdate(clients[c])
            #expect(upload == b.localUpdate(renamed[c]))
        }
        // Whole rounds too (sampling and noise are seeded, not keyed by user).
        while let ra = a.runRound(), let rb = b.runRound() { #expect(ra == rb) }
        #expect(a.towers == b.towers)
    }

    @Test func `clipping bounds every update to S, and leaves shorter ones alone`() throws {
        let clients = Fixture.clients(6, rows: 9, seed: 8)
        let settings = FederatedSettings(rounds: 1, samplingRate: 1, localSteps: 5, localLearningRate: 0.5, clipNorm: 1e9, noiseMultiplier: 0)
        var fed = try FederatedAveraging(towers: Fixture.towers(seed: 2), clients: clients, settings: settings)
        var clippedSome = false
        for client in clients {
            let update = fed.localUpdate(client)
            let norm = update.reduce(0.0) { $0 + $1.squaredNorm }.squareRoot()
            for s in [norm / 4, norm / 2, norm * 2] {
                var clipped = update
                let didClip = FederatedAveraging.clip(&clipped, to: s)
                let after = clipped.reduce(0.0) { $0 + $1.squaredNorm }.squareRoot()
                #expect(after <= s * (1 + 1e-5))
                #expect(didClip == (norm > s))
                if !didClip { #expect(clipped == update) } else { clippedSome = true }
            }
        }
        #expect(clippedSome)
    }
}
