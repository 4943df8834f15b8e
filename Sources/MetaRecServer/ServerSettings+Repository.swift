import Configuration
import Serving

/// The settings of `metarec serve --models DIR` (a model repository, ``RepositorySettings``).
extension ServerSettings {
    /// The shortest `--models-poll-seconds` other than 0 (off).
    static let minimumPollSeconds = 0.1

    /// `metarec.models`, `metarec.model.name`, `metarec.split` and `metarec.models.poll.seconds`;
    /// `nil` without `--models`.
    ///
    /// - Throws: ``Invalid`` for a malformed split, a poll period that is neither 0 nor at least
    ///   ``minimumPollSeconds``, or a repository option without `--models`.
    static func repository(_ reader: ConfigReader) throws(Invalid) -> RepositorySettings? {
        let name = text(reader, "metarec.model.name"), split = text(reader, "metarec.split")
        let poll = try number(reader, "metarec.models.poll.seconds", "METAREC_MODELS_POLL_SECONDS", default: 5, in: 0...86_400, Double.init)
        // A period of a few microseconds would round to 0 ms and re-read the directory in a busy loop.
        guard poll == 0 || poll >= minimumPollSeconds else {
            throw Invalid(variable: "METAREC_MODELS_POLL_SECONDS",
                          reason: "--models-poll-seconds \(poll): 0 (re-read only on SIGHUP) or at least \(minimumPollSeconds) s")
        }
        guard let root = text(reader, "metarec.models") else {
            let given = [("--model-name", "METAREC_MODEL_NAME", name), ("--split", "METAREC_SPLIT", split),
                         ("--models-poll-seconds", "METAREC_MODELS_POLL_SECONDS", text(reader, "metarec.models.poll.seconds"))]
            if let (flag, variable, _) = given.first(where: { $0.2 != nil }) {
                throw Invalid(variable: variable, reason: "\(flag) is an option of a model repository: it needs --models DIR (METAREC_MODELS)")
            }
            return nil
        }
        var weights: [RoutingPlan.Weight] = []
        if let split {
            do throws(ModelRepositoryError) { weights = try RoutingPlan.parse(split) } catch {
                throw Invalid(variable: "METAREC_SPLIT", reason: "--split \(split): \(error)")
            }
        }
        return RepositorySettings(root: root, name: name, weights: weights,
                                  pollInterval: poll == 0 ? nil : .milliseconds(Int64((poll * 1000).rounded())))
    }

    /// Refuses what a model repository does not combine with yet: a state directory (its
    /// snapshot and event log are one model's in-process store; each version has its own) and a
    /// retrieval model (its catalogue is checked against one ranker's features).
    func checkRepositoryCombinations() throws(Invalid) {
        guard let repository else { return }
        if let state = configuration.stateDirectory {
            throw Invalid(variable: "METAREC_STATE", reason: "--state \(state) with --models \(repository.root): a state directory holds one model's support store; with a repository each version has its own (use --support redis:// to share rows across restarts, or serve one --model)")
        }
        if let retrieval {
            throw Invalid(variable: "METAREC_RETRIEVAL", reason: "--retrieval \(retrieval) with --models \(repository.root): /v1/recommend ranks with one model; serve it with --model")
        }
    }
}
