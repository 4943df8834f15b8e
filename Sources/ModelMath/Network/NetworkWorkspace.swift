import TensorCore

/// Buffers of one forward/backward pass over a batch of `B` rows, reused across batches.
/// One workspace per thread; nothing in it is shared.
public struct NetworkWorkspace: Sendable {
    /// How ``MultiTaskNetwork`` runs scene experts (``SceneExperts``); either way the same function.
    public enum SceneEvaluation: Sendable, Equatable {
        /// Scene `s`'s experts (and `.perScene` gates) on scene `s`'s rows only.
        case grouped
        /// The naive reference: every expert and every gate on every row, the other scenes' gate
        /// logits set to `−∞` (tests).
        case masked
    }

    package var input = InputWorkspace()
    /// How the bottom evaluates its first layers; `.automatic` unless a caller forces one.
    public var firstLayer = FirstLayerEvaluation.automatic
    /// Whether the last forward pass folded its first layers (its backward does the same).
    public internal(set) var foldedFirstLayer = false
    /// `(B, D)` network input, written by dense first layers only (a folded pass leaves it as it was).
    public var x = Tensor(shape: [0, 1])
    /// `(B, R)` the non-categorical columns of `x` (folded first layers only).
    var rest = Tensor(shape: [0, 1])
    /// `(U, n)` the folded first layer's projection (forward) or unit sums (backward).
    var foldScratch = Tensor(shape: [0, 1])
    /// Per expert: its MLP activations; `experts[e].result` is `h_e`, `(B, H)`.
    var experts: [MLPActivations] = []
    /// `(E, B, H)` the experts' outputs stacked for the gate mixture.
    var expertStack = Tensor(shape: [1, 0, 1])
    /// Per task: `(B, E)` gate probabilities `g_k`.
    var gates: [Tensor] = []
    /// Per task: `(B, E)` gate logits `x · W_k + b_k`.
    var gateLogits: [Tensor] = []
    /// Per task: `(B, H)` meta-layer inputs `f_k`.
    public var meta: [Tensor] = []
    /// `(B)` each row's scene index (−1: unknown), with scene experts only (``SceneExperts``).
    var scenes: [Int32] = []
    /// How the bottom runs scene experts; `.grouped` unless a test asks for the reference.
    public var sceneEvaluation = SceneEvaluation.grouped
    /// The batch's rows grouped by scene, with each group's input (``SceneEvaluation/grouped``).
    var sceneGroups = SceneGroups()
    /// `(B, shared + perScene)` one task's local gate logits, or their gradient (``SceneExperts``).
    var sceneLogits = Tensor(shape: [0, 1])
    /// `(n, w)` a scene gate's logits on its rows, or their gradient.
    var groupLogits = Tensor(shape: [0, 1])
    /// `(n, D)` / `(n, R)` ∂L/∂x, ∂L/∂rest of one scene group's rows.
    var groupDx = Tensor(shape: [0, 1])
    var groupDRest = Tensor(shape: [0, 1])
    /// `(B, P)` the inference bottom's packed first layers and gate logits (``PackedBottom``).
    var packed = Tensor(shape: [0, 1])
    /// `(B, W_1)` one expert's first layer, for experts with more layers (``PackedBottom``).
    var stagedExpert = Tensor(shape: [0, 1])
    /// Per task: tower activations; `towers[k].result` is the logit, `(B, 1)` (with STAR
    /// towers only `result` is written: the activations live in `star[k]`).
    var towers: [MLPActivations] = []
    /// `(B)` each row's STAR scene index (−1: unknown), with STAR towers only (``StarTowers``).
    public internal(set) var starScenes: [Int32] = []
    /// Per task: the STAR tower's scene groups and activations (``StarTower``).
    var star: [StarTowerWorkspace] = []
    /// Which statistics partitioned normalisation uses (``PartitionedNormalization``): `.running`
    /// (evaluation, support building; the default) or `.batch` (training sets it).
    public var normStatistics = NormStatistics.running
    /// `(B)` each row's partitioned-norm scene index (−1: unknown), with partitioned norm only.
    public internal(set) var normScenes: [Int32] = []
    /// Per task: `(B, H)` `f_k` before partitioned normalisation (`meta[k]` holds it after).
    var normInput: [Tensor] = []
    /// Per task: what the partitioned norm's backward needs, and its batch sums.
    public internal(set) var norm: [PartitionedNormWorkspace] = []
    /// `(B, H)` backward scratch of the partitioned norm.
    var dNormInput = Tensor(shape: [0, 1])

    // Backward scratch.
    var dLogits: [Tensor] = []        // K × (B, 1)
    /// Per task: `(B, H)` ∂L/∂f_k, filled by backward of the towers.
    public var dMeta: [Tensor] = []
    var dExpertStack = Tensor(shape: [1, 0, 1])  // (E, B, H)
    var dGate = Tensor(shape: [0, 1])         // (B, E)
    var dGateLogits = Tensor(shape: [0, 1])   // (B, E)
    var dExpert = Tensor(shape: [0, 1])       // (B, H)
    public var dx = Tensor(shape: [0, 1])     // (B, D), dense first layers only (a folded pass leaves it)
    var dRest = Tensor(shape: [0, 1])         // (B, R), folded first layers with pooled bags only
    var labels: [Tensor] = []                 // K × (B)

    public init() {}

    /// Labels of task `k` from the last ``MultiTaskNetwork/loss(batch:tasks:labelCounts:workspace:)``, `(B)`.
    public func taskLabels(_ k: Int) -> Tensor { labels[k] }

    /// Logit of task `k`, `(B, 1)`.
    public func logits(task k: Int) -> Tensor { towers[k].result }

    /// Sizes what ``PackedBottom`` writes for `b` rows: the experts' slots and `meta[k]`,
    /// nothing of the backward pass (re-sizing those on every batch only zero-filled them).
    mutating func prepareForInference(rows b: Int, spec: NetworkSpec) {
        let e = spec.expertCount, h = spec.metaWidth, k = spec.taskCount
        if experts.count != e { experts = Array(repeating: MLPActivations(), count: e) }
        if meta.count != k { meta = Array(repeating: Tensor(shape: [b, h]), count: k) }
        for t in 0..<k { meta[t].resize(rows: b, columns: h) }
    }

    mutating func prepare(rows b: Int, spec: NetworkSpec) {
        let e = spec.expertCount, h = spec.metaWidth, k = spec.taskCount
        if experts.count != e { experts = Array(repeating: MLPActivations(), count: e) }
        if towers.count != k { towers = Array(repeating: MLPActivations(), count: k) }
        if spec.starTowers != nil && star.count != k { star = Array(repeating: StarTowerWorkspace(), count: k) }
        expertStack.resize(e, b, h)
        if gates.count != k { gates = Array(repeating: Tensor(shape: [b, e]), count: k) }
        if gateLogits.count != k { gateLogits = Array(repeating: Tensor(shape: [b, e]), count: k) }
        if meta.count != k { meta = Array(repeating: Tensor(shape: [b, h]), count: k) }
        if dMeta.count != k { dMeta = Array(repeating: Tensor(shape: [b, h]), count: k) }
        if dLogits.count != k { dLogits = Array(repeating: Tensor(shape: [b, 1]), count: k) }
        if labels.count != k { labels = Array(repeating: Tensor(shape: [b]), count: k) }
        for t in 0..<k {
            gates[t].resize(rows: b, columns: e)
            gateLogits[t].resize(rows: b, columns: e)
            meta[t].resize(rows: b, columns: h)
            dMeta[t].resize(rows: b, columns: h)
            dLogits[t].resize(rows: b, columns: 1)
            labels[t].resize(count: b)
        }
    }
}
