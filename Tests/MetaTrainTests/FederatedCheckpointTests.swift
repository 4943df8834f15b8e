import Foundation
import ModelDescription
import ModelMath
@testable import MetaTrain
import Testing

/// A federated run stopped at a checkpoint and resumed reaches the same towers, ε and
/// participations as an uninterrupted run; a checkpoint of another run is refused.
@Suite struct FederatedCheckpointTests {
    typealias Fixture = FederatedAveragingTests

    static func settings(_ noise: FederatedSettings.Noise) -> FederatedSettings {
        FederatedSettings(rounds: 6, samplingRate: 0.6, localSteps: 2, localLearningRate: 0.1, clipNorm: 0.4, noiseMultiplier: 0.9,
                          noise: noise, maxParticipations: noise == .local ? 3 : nil, seed: 11)
    }

    @Test(arguments: [FederatedSettings.Noise.central, .local])
    func `three rounds, a snapshot through JSON, three more: the same as six straight`(noise: FederatedSettings.Noise) throws {
        let clients = Fixture.clients(8, rows: 5, seed: 6), settings = Self.settings(noise)
        var straight = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: clients, settings: settings)
        while straight.runRound() != nil {}
        var first = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: clients, settings: settings)
        for _ in 0..<3 { _ = first.runRound() }
        let json = try JSONEncoder().encode(first.snapshot())
        var resumed = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: clients, settings: settings)
        try resumed.restore(JSONDecoder().decode(FederatedAveraging.Snapshot.self, from: json))
        #expect(resumed.roundsRun == 3 && resumed.accountant == first.accountant)
        while resumed.runRound() != nil {}
        #expect(resumed.towers == straight.towers)
        #expect(resumed.accountant == straight.accountant && resumed.epsilon == straight.epsilon)
        #expect(resumed.snapshot() == straight.snapshot())
    }

    @Test func `a snapshot of other clients or towers is refused and changes nothing`() throws {
        let settings = Self.settings(.central)
        var small = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: Fixture.clients(4, rows: 5, seed: 6), settings: settings)
        _ = small.runRound()
        var other = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: Fixture.clients(5, rows: 5, seed: 6), settings: settings)
        let before = other.snapshot()
        #expect(throws: FederatedError.self) { try other.restore(small.snapshot()) }
        var wrongTowers = small.snapshot()
        wrongTowers.towers[0].removeLast()
        var same = try FederatedAveraging(towers: Fixture.towers(seed: 3), clients: Fixture.clients(4, rows: 5, seed: 6), settings: settings)
        #expect(throws: FederatedError.self) { try same.restore(wrongTowers) }
        #expect(other.snapshot() == before)
    }

    @Test func `the job removes its checkpoint when done and refuses another run's on resume`() throws {
        let f = try FederatedJobTests.fixture()
        var job = FederatedJobTests.job(f, out: "fed")
        job.checkpointEvery = 1
        try job.run(progress: ProgressReporter(quiet: true))
        let checkpoint = FederatedCheckpoint(modelDirectory: f.dir + "/fed", key: "")
        #expect(!checkpoint.exists)
        // A checkpoint written under another key (another run) is refused by --resume.
        let snapshot = FederatedAveraging.Snapshot(roundsRun: 1, participations: Array(repeating: 0, count: 7), random: [1, 2, 3, 4],
                                                   towers: [])
        try FederatedCheckpoint(modelDirectory: f.dir + "/fed", key: "another run").save(snapshot)
        job.resume = true
        #expect(throws: FederatedError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
    }
}
