import ParamServer
import Serving

/// What `metarec serve --models DIR` serves (``ServerSettings``): the repository, the model in
/// it, the A/B split and how often the directory is re-read.
public struct RepositorySettings: Sendable, Equatable {
    /// The repository root (`--models`): `DIR/<name>/<version>/` and optional `DIR/<name>/LABELS`.
    public var root: String
    /// The served model (`--model-name`); `nil`: the only model in the root (several are an error).
    public var name: String?
    /// The A/B split (`--split stable=90,canary=10`); empty: all traffic to `stable` when that
    /// label exists, else to the newest version (``Serving/RoutingPlan``).
    public var weights: [RoutingPlan.Weight]
    /// Time between re-reads of the root (`--models-poll-seconds`, default 5 s, at least 0.1 s);
    /// `nil`: only on SIGHUP.
    public var pollInterval: Duration?
    /// How every served version keeps its support rows (`--support-precision`); `nil`: each
    /// version's own `serving.support_precision`.
    public var supportPrecision: SupportPrecision?

    public init(root: String, name: String? = nil, weights: [RoutingPlan.Weight] = [], pollInterval: Duration? = .seconds(5)) {
        self.root = root
        self.name = name
        self.weights = weights
        self.pollInterval = pollInterval
    }

    /// Scans the root and picks the served model.
    ///
    /// - Throws: ``Serving/ModelRepositoryError`` for an unreadable root or a malformed `LABELS`,
    ///   no model in the root, a `--model-name` that is not in it, or several models without one.
    func scan() throws(ModelRepositoryError) -> ModelRepository.Model {
        let repository = try ModelRepository(root: root)
        if let name {
            guard let model = repository.models[name] else {
                throw .noModel(root: root, reason: "no model \(name) (models: \(repository.models.keys.sorted().joined(separator: ", ")))")
            }
            return model
        }
        guard let only = repository.models.values.first, repository.models.count == 1 else {
            throw .noModel(root: root, reason: repository.models.isEmpty
                ? "no model (expected \(root)/<name>/<version>/ with an integer version ≥ 1)"
                : "several models (\(repository.models.keys.sorted().joined(separator: ", "))): choose one with --model-name")
        }
        return only
    }

    /// The model directory of `name` at `version`.
    func path(name: String, version: Int) -> String { "\(root)/\(name)/\(version)" }
}
