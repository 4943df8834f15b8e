import Foundation

/// What `metarec serve --models` serves of one model of a ``ModelRepository`` scan: the A/B split
/// over versions, resolved from labels, and the set of versions kept loaded.
///
/// ```
/// split      the configured weights (--split stable=90,canary=10), each arm a label or a version,
///            resolved against the scan; arms naming the same version add up.
///            default (no --split): all traffic to the `stable` label when it exists, else the newest version
/// served     the split's versions ∪ every labelled version ∪ the newest version
/// primary    the split arm with the largest weight (ties: the newer version); /healthz reports it
/// ```
/// Versions in the directory outside `served` are not loaded (their routes answer 404): memory
/// stays bounded by what is routed or named.
public struct RoutingPlan: Sendable, Equatable {
    /// One arm of a configured split, before resolution.
    public struct Weight: Sendable, Equatable {
        /// What an arm names.
        public enum Target: Sendable, Equatable, CustomStringConvertible {
            case version(Int)
            case label(String)

            public var description: String {
                switch self {
                case .version(let v): String(v)
                case .label(let l): l
                }
            }
        }

        public var target: Target
        public var weight: Double

        public init(_ target: Target, weight: Double) {
            self.target = target
            self.weight = weight
        }
    }

    /// The resolved split (versions, in the configured order).
    public let split: TrafficSplit
    /// Every version to keep loaded, ascending.
    public let served: [Int]
    /// The version of the heaviest arm.
    public let primary: Int
    /// Label → version, from the scan.
    public let labels: [String: Int]

    /// Resolves `weights` (empty: the default) against `model`.
    ///
    /// - Throws: ``ModelRepositoryError/invalidSplit(_:)`` for an arm naming a label the model
    ///   lacks or a version not in its directory, or weights the split refuses.
    public init(model: ModelRepository.Model, weights: [Weight]) throws(ModelRepositoryError) {
        let given = weights.isEmpty ? [Weight(model.labels["stable"] != nil ? .label("stable") : .version(model.versions.last!), weight: 1)] : weights
        var arms: [TrafficSplit.Arm] = []
        for w in given {
            let version: Int
            switch w.target {
            case .version(let v):
                guard model.versions.contains(v) else {
                    throw .invalidSplit("version \(v) of \(model.name) is not in the repository (versions: \(model.versions.map(String.init).joined(separator: ", ")))")
                }
                version = v
            case .label(let l):
                guard let v = model.version(label: l) else {
                    throw .invalidSplit("label \(l) of \(model.name) is not defined (labels: \(model.labels.keys.sorted().joined(separator: ", ")); or latest)")
                }
                version = v
            }
            if let i = arms.firstIndex(where: { $0.version == version }) { arms[i].weight += w.weight } else {
                arms.append(.init(version: version, weight: w.weight))
            }
        }
        split = try TrafficSplit(arms)
        served = Array(Set(arms.map(\.version)).union(model.labels.values).union([model.versions.last!])).sorted()
        primary = arms.max { a, b in a.weight < b.weight || a.weight == b.weight && a.version < b.version }!.version
        labels = model.labels
    }

    /// Parses `--split`: comma-separated `target=weight` pairs, a target being a label or a
    /// version number, a weight a finite number ≥ 0 (`stable=90,canary=10`, `3=1,4=1`).
    ///
    /// - Throws: ``ModelRepositoryError/invalidSplit(_:)`` naming the malformed pair.
    public static func parse(_ text: String) throws(ModelRepositoryError) -> [Weight] {
        var weights: [Weight] = []
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, let weight = Double(parts[1]), weight.isFinite, weight >= 0 else {
                throw .invalidSplit("\"\(pair)\" is not <label or version>=<weight ≥ 0> (e.g. stable=90,canary=10)")
            }
            if let v = Int(parts[0]) {
                guard v >= 1 else { throw .invalidSplit("\"\(pair)\": a version is an integer ≥ 1") }
                weights.append(Weight(.version(v), weight: weight))
            } else {
                guard parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw .invalidSplit("\"\(pair)\": a label is letters, digits, _ and -")
                }
                weights.append(Weight(.label(parts[0]), weight: weight))
            }
        }
        return weights
    }
}
