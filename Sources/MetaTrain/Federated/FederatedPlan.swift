import Foundation
import PrivacyAccounting

/// Resolves the CLI's conveniences into ``FederatedSettings`` and words the progress lines.
public enum FederatedPlan {
    /// `settings` with `q = m / N` when `clientsPerRound` (m) is given, and `σ` calibrated by
    /// ``NoiseCalibration`` when `targetEpsilon` is: central noise composes `rounds`
    /// subsampled Gaussians at rate `q`; local noise composes one client's uploads (at most
    /// `min(cap, rounds)`, each an unsubsampled Gaussian). Validated; errors name the flag.
    public static func resolve(_ settings: FederatedSettings, clients n: Int, clientsPerRound m: Int?,
                               targetEpsilon: Double?) throws(FederatedError) -> FederatedSettings {
        var out = settings
        if let m {
            guard m >= 1 && m <= n else {
                throw .invalidSetting(field: "clients-per-round", reason: "must be in 1...\(n) (the clients in the log), got \(m)")
            }
            out.samplingRate = Double(m) / Double(n)
        }
        if let targetEpsilon {
            guard targetEpsilon > 0 && targetEpsilon.isFinite else {
                throw .invalidSetting(field: "target-epsilon", reason: "must be finite and > 0, got \(targetEpsilon)")
            }
            let local = out.noise == .local
            guard !local || out.maxParticipations != nil else {
                throw .invalidSetting(field: "max-participations", reason: "local noise needs a participation cap: a client's ε grows with every upload")
            }
            try out.validate()
            let steps = local ? min(out.maxParticipations!, out.rounds) : out.rounds
            guard let sigma = NoiseCalibration.noiseMultiplier(targetEpsilon: targetEpsilon, delta: out.delta,
                                                               samplingRate: local ? 1 : out.samplingRate, steps: steps) else {
                throw .invalidSetting(field: "target-epsilon", reason: "no noise multiplier up to 65536 reaches ε \(targetEpsilon)")
            }
            out.noiseMultiplier = local ? 2 * sigma : sigma  // the accounted multiplier is σ/2 under local noise
        }
        try out.validate()
        return out
    }

    /// ε(δ) after every round has run (∞ without noise).
    public static func plannedEpsilon(_ s: FederatedSettings) -> Double {
        guard s.noiseMultiplier > 0 else { return .infinity }
        var accountant = RDPAccountant()
        let local = s.noise == .local
        accountant.composeSampledGaussian(samplingRate: local ? 1 : s.samplingRate, noiseMultiplier: s.accountedNoiseMultiplier,
                                          count: local ? min(s.maxParticipations ?? s.rounds, s.rounds) : s.rounds)
        return accountant.epsilon(delta: s.delta).epsilon
    }

    /// The plan line printed before round 1.
    public static func describe(_ s: FederatedSettings, clients n: Int, rows: Int) -> String {
        "federated: \(n) clients, \(rows) rows; \(s.rounds) rounds, q \(format(s.samplingRate)) "
            + "(≈ \(String(format: "%.1f", s.samplingRate * Double(n))) clients a round), \(s.localSteps) local steps at \(s.localLearningRate), "
            + "clip S \(s.clipNorm), σ \(format(s.noiseMultiplier)) (\(s.noise.rawValue)), server rate \(s.serverLearningRate), "
            + "cap \(s.maxParticipations.map(String.init) ?? "none"); ε after every round \(format(plannedEpsilon(s))) at δ \(s.delta)"
    }

    /// One round's progress line: participants, clipped share, the running (ε, δ), the metrics.
    static func describe(_ r: FederatedAveraging.RoundReport, settings s: FederatedSettings, metrics: [TaskMetrics],
                         names: [String]) -> String {
        "round \(r.round)/\(s.rounds): \(r.participants) clients, \(format(100 * r.clippedShare))% clipped, "
            + "ε \(format(r.epsilon)) (δ \(s.delta)); \(describe(metrics, names: names))"
    }

    /// `like auc 0.7012, rating rmse 0.9531`.
    static func describe(_ metrics: [TaskMetrics], names: [String]) -> String {
        zip(names, metrics).map { name, m in
            m.auc != nil ? "\(name) auc \(format(m.auc ?? .nan))" : "\(name) rmse \(format(m.rmse ?? .nan))"
        }.joined(separator: ", ")
    }

    /// Four decimals, `inf` for ∞.
    static func format(_ x: Double) -> String {
        x.isInfinite ? "inf" : String(format: "%.4f", x)
    }
}
