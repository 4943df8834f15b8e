import Serving
import Synchronization

/// The routing table of the server: which loaded version (``ServedVersion``) answers a request.
/// `metarec serve --model DIR` has one version and no repository routes; `--models DIR` has the
/// versions of a ``Serving/RoutingPlan``, its labels and its A/B split, replaced as a whole by
/// ``install(name:plan:versions:over:)`` when the repository changes (a hot swap).
///
/// Threading: one `Mutex` guards the table; ``acquire(_:)`` looks a version up and takes its
/// hold in the same critical section, so once ``install(name:plan:versions:over:)`` has returned
/// the versions it retired, no new request can reach them and their in-flight count only falls.
/// An install is conditional on the table it was planned against (its ``Snapshot/generation``)
/// and refuses a retired version, so a stale plan can never route to a version being unloaded.
public final class ServedModels: Sendable {
    /// Which version a request asks for.
    enum Selector: Sendable {
        /// The A/B split by hash(user) (plain `/v1/score`).
        case split(user: String)
        /// `/v1/models/{name}/versions/{n}/score` (`n` as given in the path).
        case version(name: String, String)
        /// `/v1/models/{name}/labels/{label}/score`.
        case label(name: String, String)
    }

    struct Table: Sendable {
        /// The repository model's name; `nil` for `--model DIR`.
        var name: String?
        /// Repository version → loaded version (empty for `--model DIR`).
        var versions: [Int: ServedVersion] = [:]
        var labels: [String: Int] = [:]
        var split: TrafficSplit?
        var primary: ServedVersion
        /// How many installs replaced the table (0 at start).
        var generation = 0
    }

    /// The repository versions in the table and the table's generation, read together: what a
    /// reload plans against (``install(name:plan:versions:over:)``).
    struct Snapshot: Sendable {
        var generation: Int
        /// Repository version → loaded version (empty for `--model DIR`).
        var versions: [Int: ServedVersion]
    }

    let table: Mutex<Table>

    /// One model directory (`--model DIR`).
    init(single: ServedVersion) {
        table = Mutex(Table(primary: single))
    }

    /// A repository model's versions of `plan` (each of `plan.served` must be in `versions`).
    init(name: String, plan: RoutingPlan, versions: [Int: ServedVersion]) {
        table = Mutex(Self.table(name: name, plan: plan, versions: versions))
    }

    private static func table(name: String, plan: RoutingPlan, versions: [Int: ServedVersion]) -> Table {
        precondition(plan.served.allSatisfy { versions[$0] != nil }, "ServedModels: versions \(plan.served) are not all loaded")
        return Table(name: name, versions: versions.filter { plan.served.contains($0.key) }, labels: plan.labels,
                     split: plan.split, primary: versions[plan.primary]!)
    }

    /// The version `/healthz` reports and the stores' gauges follow: the one version of
    /// `--model DIR`, else the heaviest arm of the split.
    public var primary: ServedVersion { table.withLock { $0.primary } }

    /// Every loaded version in the table (ascending repository version), the one of `--model DIR`.
    public var live: [ServedVersion] {
        table.withLock { t in t.versions.isEmpty ? [t.primary] : t.versions.keys.sorted().map { t.versions[$0]! } }
    }

    /// The repository model's name; `nil` for `--model DIR`.
    public var name: String? { table.withLock { $0.name } }

    /// The version `selector` names, held for the caller (release it with ``ServedVersion/release()``).
    ///
    /// - Throws: ``ServingError/unknownModel(field:reason:)`` (404) for a name, version or label
    ///   that is not served, naming what is.
    func acquire(_ selector: Selector) throws(ServingError) -> ServedVersion {
        try table.withLock { (t) throws(ServingError) -> ServedVersion in
            let chosen = try Self.lookup(selector, in: t)
            chosen.inFlight.add(1, ordering: .acquiring)
            return chosen
        }
    }

    private static func lookup(_ selector: Selector, in t: Table) throws(ServingError) -> ServedVersion {
        switch selector {
        case .split(let user):
            guard let split = t.split else { return t.primary }
            return t.versions[split.version(user: user)] ?? t.primary
        case .version(let name, let text):
            try check(name, in: t)
            guard let n = Int(text), let v = t.versions[n] else {
                throw .unknownModel(field: "version", reason: "version \(text) of model \(name) is not served (served versions: \(t.versions.keys.sorted().map(String.init).joined(separator: ", ")))")
            }
            return v
        case .label(let name, let label):
            try check(name, in: t)
            guard let n = t.labels[label] ?? (label == "latest" ? t.versions.keys.max() : nil), let v = t.versions[n] else {
                throw .unknownModel(field: "label", reason: "label \(label) of model \(name) is not defined (labels: \((t.labels.keys.sorted() + ["latest"]).joined(separator: ", ")))")
            }
            return v
        }
    }

    private static func check(_ name: String, in t: Table) throws(ServingError) {
        guard let served = t.name else {
            throw .unknownModel(field: "name", reason: "model \(name) is not served: this server serves one model directory (--model), not a repository (--models)")
        }
        guard name == served else { throw .unknownModel(field: "name", reason: "model \(name) is not served (served: \(served))") }
    }

    /// Replaces the table with `plan`'s versions, atomically, if it is still the table of
    /// `generation` (``snapshot``) and no version in `versions` was retired; the versions that
    /// leave the table are marked retired in the same critical section.
    ///
    /// - Returns: the versions that were in the table and are not any more (to drain and unload),
    ///   or `nil` when the table changed since `generation` or a version was retired (nothing installed).
    func install(name: String, plan: RoutingPlan, versions: [Int: ServedVersion], over generation: Int) -> [ServedVersion]? {
        var next = Self.table(name: name, plan: plan, versions: versions)
        return table.withLock { t -> [ServedVersion]? in
            guard t.generation == generation, !next.versions.values.contains(where: { $0.retired.load(ordering: .relaxed) }) else {
                return nil
            }
            let retired = t.versions.filter { next.versions[$0.key] !== $0.value }.map(\.value)
            for version in retired { version.retired.store(true, ordering: .relaxed) }
            next.generation = generation + 1
            t = next
            return retired
        }
    }

    /// The loaded repository versions by number (empty for `--model DIR`) and the table's generation.
    var snapshot: Snapshot { table.withLock { Snapshot(generation: $0.generation, versions: $0.versions) } }
}
