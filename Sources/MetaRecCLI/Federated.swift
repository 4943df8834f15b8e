import ArgumentParser
import Foundation
import MetaTrain

/// `metarec federated`: DP-FedAvg over the towers of a centrally pre-trained model, clients =
/// the task keys (users) of a CSV log, into a new model directory.
struct Federated: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Federated training of the towers (DP-FedAvg, clients = task keys) from a pre-trained model directory.",
        discussion: """
            The bottom (embeddings, experts, gates) and preprocessing come frozen from --init; \
            each round, clients are Poisson-sampled (--client-rate q, or --clients-per-round m for \
            q = m/N), take --local-steps steps of the towers' inner loop on their own rows, clip \
            their update to --clip-norm S; Gaussian noise sigma*S is added to the sum (--noise \
            central) or to each upload (--noise local, needs --max-participations). The server \
            steps --server-learning-rate along the sum / (qN). (epsilon, delta) is accounted with \
            Renyi DP and covers the tower updates only. --target-epsilon calibrates sigma to end \
            the run at that epsilon. The result is a model directory published like train's \
            (eval, eval-cold, serve load it); the same inputs and --seed give the same weights. \
            A checkpoint goes to OUT/checkpoint/ every --checkpoint-every rounds; after a crash, \
            the same command with --resume continues to the same weights.
            """)

    enum Noise: String, ExpressibleByArgument, CaseIterable { case central, local }

    @Option(help: "Model config (YAML); its network and inputs must match --init's.") var config: String
    @Option(help: "Training CSV log: one client per task key.") var data: String
    @Option(help: "CSV log whose users measure the per-round metric (default: the training clients).") var validation: String?
    @Option(name: .customLong("init"), help: "Centrally pre-trained model directory: the frozen bottom (and the starting towers).")
    var initialModel: String
    @Option(help: "Model directory to write.") var out: String
    @Flag(help: "Start the towers from the config's seeded initialisation instead of --init's towers.") var resetTowers = false
    @Option(help: "Rounds.") var rounds: Int = 100
    @Option(help: "q: each client takes part in a round with this probability.") var clientRate: Double?
    @Option(help: "m: expected clients a round (Poisson sampling with q = m/N).") var clientsPerRound: Int?
    @Option(help: "Local steps per participating client.") var localSteps: Int = 5
    @Option(help: "Local (inner) learning rate.") var localLearningRate: Float = 0.05
    @Option(help: "S: clipping norm of one client's update (all towers).") var clipNorm: Double = 1
    @Option(help: "sigma: noise standard deviation / S; 0 = no noise (epsilon infinite); 1 when neither this nor --target-epsilon is given.") var noiseMultiplier: Double?
    @Option(help: "Calibrate sigma so the whole run ends at this epsilon.") var targetEpsilon: Double?
    @Option(help: "Where the noise is added.") var noise: Noise = .central
    @Option(help: "eta: the server's step along the averaged update.") var serverLearningRate: Float = 1
    @Option(help: "Most rounds one client may take part in.") var maxParticipations: Int?
    @Option(help: "delta of the reported (epsilon, delta).") var delta: Double = 1e-5
    @Option(help: "Stop before a round that would take epsilon above this.") var epsilonBudget: Double?
    @Option(help: "Seed of client sampling and noise.") var seed: UInt64 = 1
    @Option(help: "Rounds between progress lines.") var reportEvery: Int = 1
    @Option(help: "Rounds between checkpoints (OUT/checkpoint/federated.json).") var checkpointEvery: Int = 25
    @Flag(help: "Continue from OUT/checkpoint/ after an interruption (from scratch when there is none).") var resume = false
    @Option(help: "Skip and count up to N malformed rows (default: config, 0).") var maxBadRows: Int?
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        guard (clientRate == nil) != (clientsPerRound == nil) else {
            throw ValidationError("give one of --client-rate and --clients-per-round")
        }
        guard noiseMultiplier == nil || targetEpsilon == nil else {
            throw ValidationError("give --noise-multiplier or --target-epsilon, not both")
        }
        if let clientsPerRound, clientsPerRound < 1 { throw ValidationError("--clients-per-round must be >= 1") }
        if noise == .local, maxParticipations == nil {
            throw ValidationError("--max-participations: local noise needs a participation cap: a client's ε grows with every upload")
        }
        guard reportEvery >= 1 else { throw ValidationError("--report-every must be >= 1") }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be >= 1") }
        // Ranges of the rest: FederatedSettings.validate, which names the same flags.
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
    }

    /// The flags as settings (`q` = 1 stands in until `--clients-per-round` is resolved against the log).
    var settings: FederatedSettings {
        FederatedSettings(rounds: rounds, samplingRate: clientRate ?? 1, localSteps: localSteps, localLearningRate: localLearningRate,
                          clipNorm: clipNorm, noiseMultiplier: noiseMultiplier ?? (targetEpsilon == nil ? 1 : 0),
                          noise: noise == .central ? .central : .local, serverLearningRate: serverLearningRate,
                          maxParticipations: maxParticipations, delta: delta, epsilonBudget: epsilonBudget, seed: seed)
    }

    func run() async throws {
        let logger = try logOptions.bootstrap()
        try reportingErrors {
            var job = FederatedJob(configPath: config, trainingPath: data, initialModel: initialModel, outputDirectory: out,
                                   settings: settings)
            job.validationPath = validation
            job.clientsPerRound = clientsPerRound
            job.targetEpsilon = targetEpsilon
            job.resetTowers = resetTowers
            job.maxBadRows = maxBadRows
            job.reportEvery = reportEvery
            job.checkpointEvery = checkpointEvery
            job.resume = resume
            try job.run(progress: ProgressReporter(logger: logger))
        }
    }
}
