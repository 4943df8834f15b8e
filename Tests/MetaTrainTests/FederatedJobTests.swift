import Foundation
import ModelDescription
import ModelMath
import PrivacyAccounting
@testable import MetaTrain
import Testing

/// `metarec federated`'s job end to end on the tiny training fixture: a published model
/// directory that loads, the init model's bottom kept, the towers moved, identical weights from
/// two runs with one seed, and the plan's q from m-of-N and σ from a target ε.
@Suite struct FederatedJobTests {
    static func settings(seed: UInt64 = 7) -> FederatedSettings {
        FederatedSettings(rounds: 4, samplingRate: 0.5, localSteps: 3, localLearningRate: 0.1, clipNorm: 0.5,
                          noiseMultiplier: 0.8, seed: seed)
    }

    /// Trains the fixture's central model and returns (directory, config path, log path, init model path).
    static func fixture() throws -> (dir: String, config: String, data: String, model: String) {
        let dir = TrainingFixture.temporaryDirectory("federated-job")
        let model = try TrainingFixture.trainModel(in: dir)
        return (dir, dir + "/config.yaml", dir + "/good.csv", model)
    }

    static func job(_ f: (dir: String, config: String, data: String, model: String), out: String,
                    settings: FederatedSettings = settings()) -> FederatedJob {
        FederatedJob(configPath: f.config, trainingPath: f.data, initialModel: f.model, outputDirectory: f.dir + "/" + out,
                     settings: settings)
    }

    @Test func `writes a loadable model directory: the init bottom, federated towers`() throws {
        let f = try Self.fixture()
        let report = try Self.job(f, out: "fed").run(progress: ProgressReporter(quiet: true))
        let initial = try LoadedModel(path: f.model), federated = try LoadedModel(path: f.dir + "/fed")
        #expect(federated.parameters == report.parameters)
        #expect(federated.parameters.experts == initial.parameters.experts && federated.parameters.gates == initial.parameters.gates)
        #expect(federated.parameters.towers != initial.parameters.towers)
        #expect(report.clients == 7 && report.roundsRun == 4 && report.epsilon.isFinite && report.epsilon > 0)
        #expect(federated.manifest.epochsCompleted == 4 && federated.manifest.metrics["like"]?["auc"] != nil)
        // Support sets: every client's rows (7 users, 48 rows, capacity ≥ 7).
        #expect(federated.support.count == 7)
    }

    @Test func `two runs with one seed give identical weights; another seed does not`() throws {
        let f = try Self.fixture()
        let a = try Self.job(f, out: "a").run(progress: ProgressReporter(quiet: true))
        let b = try Self.job(f, out: "b").run(progress: ProgressReporter(quiet: true))
        let c = try Self.job(f, out: "c", settings: Self.settings(seed: 8)).run(progress: ProgressReporter(quiet: true))
        #expect(try LoadedModel(path: f.dir + "/a").parameters == LoadedModel(path: f.dir + "/b").parameters)
        #expect(a.parameters == b.parameters && a.epsilon == b.epsilon)
        #expect(a.parameters.towers != c.parameters.towers)
    }

    @Test func `reset towers start from the config seed, not the init model`() throws {
        let f = try Self.fixture()
        var job = Self.job(f, out: "reset")
        job.resetTowers = true
        let config = try ModelConfig.load(yamlFile: f.config), initial = try LoadedModel(path: f.model)
        let start = job.initialTowers(config: config, model: initial).map(\.parameters)
        #expect(start == ModelParameters(spec: config.networkSpec, seed: config.model.seed).towers)
        #expect(try job.run(progress: ProgressReporter(quiet: true)).roundsRun == 4)
    }

    @Test func `m of N sets q = m/N; a target ε calibrates σ to reach it`() throws {
        let resolved = try FederatedPlan.resolve(Self.settings(), clients: 610, clientsPerRound: 61, targetEpsilon: 3)
        #expect(abs(resolved.samplingRate - 0.1) < 1e-12)
        let epsilon = FederatedPlan.plannedEpsilon(resolved)
        #expect(epsilon <= 3 && epsilon > 2.99)
        var looser = resolved
        looser.noiseMultiplier *= 0.99
        #expect(FederatedPlan.plannedEpsilon(looser) > 3)
        #expect(throws: FederatedError.self) {
            try FederatedPlan.resolve(Self.settings(), clients: 10, clientsPerRound: 11, targetEpsilon: nil)
        }
        var local = Self.settings()
        local.noise = .local
        #expect(throws: FederatedError.invalidSetting(field: "max-participations",
                                                      reason: "local noise needs a participation cap: a client's ε grows with every upload")) {
            try FederatedPlan.resolve(local, clients: 10, clientsPerRound: nil, targetEpsilon: 1)
        }
        local.maxParticipations = 4
        let calibrated = try FederatedPlan.resolve(local, clients: 10, clientsPerRound: nil, targetEpsilon: 3)
        #expect(FederatedPlan.plannedEpsilon(calibrated) <= 3 && FederatedPlan.plannedEpsilon(calibrated) > 2.99)
        var single = RDPAccountant()  // the same ε from four plain Gaussian uploads at σ/2
        single.composeSampledGaussian(samplingRate: 1, noiseMultiplier: calibrated.noiseMultiplier / 2, count: 4)
        #expect(abs(single.epsilon(delta: local.delta).epsilon - FederatedPlan.plannedEpsilon(calibrated)) < 1e-9)
    }

    @Test func `an init model with another network is refused before anything is written`() throws {
        let f = try Self.fixture()
        var other = TrainingFixture.config
        other.model.towerLayers = [6]
        let otherConfig = f.dir + "/other.yaml"
        try other.yamlString().write(toFile: otherConfig, atomically: true, encoding: .utf8)
        var job = Self.job(f, out: "refused")
        job.configPath = otherConfig
        #expect(throws: FederatedJobError.self) { try job.run(progress: ProgressReporter(quiet: true)) }
        #expect(!FileManager.default.fileExists(atPath: f.dir + "/refused"))
    }
}
