import TensorCore

/// What ``StarTower/forward(shared:scenes:rowScenes:input:activation:workspace:output:)`` keeps
/// for backward, per scene group `g = 1 + s` (`g = 0`: rows of an unknown scene, scored by the
/// shared tower). Reused across batches; one per task and thread.
public struct StarTowerWorkspace: Sendable {
    /// Per group: the batch rows of that scene, in batch order.
    var rows: [[Int]] = []
    /// Per group: `(n_g, H)` the gathered tower inputs.
    var inputs: [Tensor] = []
    /// Per group: the tower's activations on those rows.
    var caches: [MLPActivations] = []
    /// Per group `g ≥ 1`: `θ_eff,s` (group 0 uses the shared tower itself).
    var effective: [MLPParameters] = []
    /// Per group `g ≥ 1`: scratch for `∂L/∂θ_eff,s`.
    var dEffective: [MLPParameters] = []
    /// Per group: `(n_g, 1)` the gathered `∂L/∂z`, and `(n_g, H)` `∂L/∂f` before the scatter.
    var dOutputs: [Tensor] = []
    var dInputs: [Tensor] = []

    public init() {}

    /// Groups rows by scene: `rows[1 + s]` the rows of scene `s`, `rows[0]` the unknown ones.
    mutating func group(rowScenes: [Int32], sceneCount: Int) {
        let groups = sceneCount + 1
        if rows.count != groups {
            rows = Array(repeating: [], count: groups)
            inputs = Array(repeating: Tensor(shape: [0, 1]), count: groups)
            caches = Array(repeating: MLPActivations(), count: groups)
            effective = Array(repeating: MLPParameters(layers: []), count: groups)
            dEffective = effective
            dOutputs = inputs
            dInputs = inputs
        }
        for g in 0..<groups { rows[g].removeAll(keepingCapacity: true) }
        for (b, s) in rowScenes.enumerated() {
            precondition(s >= -1 && Int(s) < sceneCount, "StarTower: row \(b) has scene \(s) of \(sceneCount)")
            rows[Int(s) + 1].append(b)
        }
    }
}
