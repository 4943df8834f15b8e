import TensorCore

/// The shape of a multi-task network: what ``ModelParameters`` are built from.
///
/// ```
/// x (B, D) ─┬─ Expert_e (MLP, ReLU) ─> h_e (B, H) ──┐
///           └─ Gate_k: softmax(x·W_k + b_k) (B, E) ─┴─> f_k = Σ_e g_k[:, e] ⊙ h_e (B, H)
/// f_k ─> Tower_k (MLP, last layer linear) ─> logit_k (B, 1)
/// ```
/// Shared-Bottom is the special case of one expert and no gates: `f_k = Bottom(x)` for all k.
public struct NetworkSpec: Sendable, Equatable {
    /// How the towers' inputs `f_k` are computed from `x`.
    public enum Architecture: Sendable, Equatable {
        /// Multi-gate Mixture-of-Experts (Ma et al. KDD 2018) with `experts` experts.
        case mmoe(experts: Int)
        /// One shared bottom MLP feeding every tower (Caruana 1997).
        case sharedBottom
    }

    public var architecture: Architecture
    /// `D`: width of the concatenated input.
    public var inputWidth: Int
    /// Hidden widths of each expert (or of the shared bottom); the last is `H`.
    public var bottomWidths: [Int]
    /// Hidden widths of each tower; the output width 1 is implicit.
    public var towerWidths: [Int]
    /// `K`: number of tasks (one tower each).
    public var taskCount: Int
    /// Activation of hidden layers.
    public var activation: Activation
    /// Whether the network has Meta-SGD inner-rate multipliers `ρ_k`, one per tower parameter.
    public var learnsInnerRates: Bool
    /// Shared and per-scene experts (MMoE only): which experts each row's gates may mix.
    public var sceneExperts: SceneExperts?
    /// STAR towers (``StarTowers``): every task tower gets scene factors `(W_s, b_s)`, a row is
    /// scored by `W ⊙ W_s`, `b + b_s` of its scene.
    public var starTowers: StarTowers?
    /// Partitioned normalisation of every task's `f_k` (``PartitionedNormalization``): the last
    /// step of the bottom, so the towers (and MAML's inner loop) see normalised inputs.
    public var partitionedNorm: PartitionedNormalization?

    public init(
        architecture: Architecture, inputWidth: Int, bottomWidths: [Int], towerWidths: [Int],
        taskCount: Int, activation: Activation = .relu, learnsInnerRates: Bool = false, sceneExperts: SceneExperts? = nil,
        starTowers: StarTowers? = nil, partitionedNorm: PartitionedNormalization? = nil
    ) {
        precondition(inputWidth > 0 && !bottomWidths.isEmpty && taskCount > 0,
                     "NetworkSpec: inputWidth \(inputWidth), bottomWidths \(bottomWidths), taskCount \(taskCount)")
        precondition((bottomWidths + towerWidths).allSatisfy { $0 > 0 }, "NetworkSpec: widths must be positive")
        if case .mmoe(let e) = architecture { precondition(e >= 1, "NetworkSpec: experts must be >= 1, got \(e)") }
        if let sceneExperts {
            guard case .mmoe(let e) = architecture, e == sceneExperts.expertCount else {
                preconditionFailure("NetworkSpec: scene experts need MMoE with \(sceneExperts.expertCount) experts, got \(architecture)")
            }
        }
        self.architecture = architecture
        self.inputWidth = inputWidth
        self.bottomWidths = bottomWidths
        self.towerWidths = towerWidths
        self.taskCount = taskCount
        self.activation = activation
        self.learnsInnerRates = learnsInnerRates
        self.sceneExperts = sceneExperts
        self.starTowers = starTowers
        self.partitionedNorm = partitionedNorm
    }

    /// `H`: width of every meta-layer input `f_k`.
    public var metaWidth: Int { bottomWidths[bottomWidths.count - 1] }

    /// `E`: number of experts (1 for Shared-Bottom).
    public var expertCount: Int {
        switch architecture {
        case .mmoe(let e): e
        case .sharedBottom: 1
        }
    }

    /// Whether the network has per-task gates.
    public var hasGates: Bool {
        if case .mmoe = architecture { return true }
        return false
    }
}

/// The loss of one task's head.
public enum TaskKind: Sendable, Equatable {
    /// Binary label, sigmoid output, binary cross-entropy on the logit.
    case binary
    /// Real-valued label, identity output, squared error.
    case regression
}

/// One task: its head's kind and its weight `w_k` in `L_base = Σ_k w_k · loss_k`.
public struct TaskSpec: Sendable, Equatable {
    public var name: String
    public var kind: TaskKind
    public var weight: Float

    public init(name: String, kind: TaskKind, weight: Float = 1) {
        self.name = name
        self.kind = kind
        self.weight = weight
    }
}
