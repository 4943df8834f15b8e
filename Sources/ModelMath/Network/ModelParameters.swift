import TensorCore

/// Every dense parameter of a multi-task network (embeddings live in an ``EmbeddingTable``).
///
/// The same type holds gradients: `ModelParameters.zeros(like:)` is a gradient accumulator,
/// and optimisers and checkpoints walk ``forEachTensor(_:)``.
///
/// - `experts`: E expert MLPs `D → … → H` (Shared-Bottom: the one bottom MLP);
/// - `gates`: K gate layers `(D, E)` (Shared-Bottom: none; scene experts with `.perScene` gates:
///   `(D, shared)`, the gate of rows of unknown scenes);
/// - `sceneGates`: with scene experts' `.perScene` gates, `sceneGates[k][s]` `(D, shared + perScene)`,
///   task `k`'s gate for scene `s` (``SceneExperts``); empty otherwise;
/// - `towers`: K tower MLPs `H → … → 1` — the parameters MAML adapts (θ);
/// - `innerRates`: Meta-SGD's K rate multipliers `ρ_k`, shaped like the towers (the inner step
///   is `θ_k ← θ_k − α·ρ_k ⊙ ∇L_S`); empty unless the spec ``NetworkSpec/learnsInnerRates``;
/// - `starTowers`: STAR's scene factors `(W_s, b_s)`, `starTowers[k][s]` shaped like `towers[k]`
///   (``StarTowers``); empty unless the spec has ``NetworkSpec/starTowers``;
/// - `partitionedNorm`: per task, partitioned normalisation's `γ, β, γ_s, β_s` and running
///   statistics (``PartitionedNormalization``); empty unless the spec has ``NetworkSpec/partitionedNorm``.
///   The statistics are state: in a gradient they stay zero, and optimisers skip them.
public struct ModelParameters: Sendable, Equatable {
    public var experts: [MLPParameters]
    public var gates: [DenseLayer]
    public var towers: [MLPParameters]
    public var innerRates: [MLPParameters]
    public var starTowers: [[MLPParameters]]
    public var sceneGates: [[DenseLayer]]
    public var partitionedNorm: [PartitionedNormParameters]

    public init(experts: [MLPParameters], gates: [DenseLayer], towers: [MLPParameters], innerRates: [MLPParameters] = [],
                starTowers: [[MLPParameters]] = [], sceneGates: [[DenseLayer]] = [], partitionedNorm: [PartitionedNormParameters] = []) {
        precondition(innerRates.isEmpty || innerRates.count == towers.count,
                     "ModelParameters: \(innerRates.count) inner-rate sets for \(towers.count) towers")
        precondition(starTowers.isEmpty || starTowers.count == towers.count,
                     "ModelParameters: \(starTowers.count) STAR factor sets for \(towers.count) towers")
        self.experts = experts
        self.gates = gates
        self.towers = towers
        self.innerRates = innerRates
        precondition(sceneGates.isEmpty || sceneGates.count == towers.count,
                     "ModelParameters: \(sceneGates.count) sets of scene gates for \(towers.count) towers")
        precondition(partitionedNorm.isEmpty || partitionedNorm.count == towers.count,
                     "ModelParameters: \(partitionedNorm.count) partitioned norms for \(towers.count) towers")
        self.starTowers = starTowers
        self.sceneGates = sceneGates
        self.partitionedNorm = partitionedNorm
    }

    /// Task `k`'s Meta-SGD multipliers `ρ_k`, or nil when the model has none (`ρ = 1`).
    public func innerRates(ofTask k: Int) -> MLPParameters? {
        innerRates.isEmpty ? nil : innerRates[k]
    }

    /// Freshly initialised parameters for `spec` (He for ReLU layers, Xavier for gates and logits).
    public init(spec: NetworkSpec, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        let bottom = [spec.inputWidth] + spec.bottomWidths
        experts = (0..<spec.expertCount).map { _ in MLPParameters(widths: bottom, activatesLast: true, using: &rng) }
        let perSceneGates = spec.sceneExperts?.gates == .perScene
        // With per-scene gates, `gates[k]` mixes the shared experts of rows of unknown scenes.
        let gateWidth = perSceneGates ? spec.sceneExperts!.shared : spec.expertCount
        gates = spec.hasGates
            ? (0..<spec.taskCount).map { _ in
                DenseLayer(inputs: spec.inputWidth, outputs: gateWidth, initialization: .xavier, using: &rng)
            }
            : []
        let tower = [spec.metaWidth] + spec.towerWidths + [1]
        towers = (0..<spec.taskCount).map { _ in MLPParameters(widths: tower, activatesLast: false, using: &rng) }
        innerRates = spec.learnsInnerRates ? towers.map { $0.filled(with: 1) } : []
        // STAR's initialisation: W_s = 1, b_s = 0, so every scene starts from the shared tower.
        let shared = towers
        starTowers = spec.starTowers.map { star in
            shared.map { tower in
                var factors = tower.filled(with: 1)
                for l in factors.layers.indices { factors.layers[l].bias.fill(0) }
                return Array(repeating: factors, count: star.sceneCount)
            }
        } ?? []
        // Drawn after every other tensor, so a model without them initialises as before.
        sceneGates = spec.sceneExperts.map { scenes in
            guard scenes.gates == .perScene else { return [] }
            return (0..<spec.taskCount).map { _ in
                (0..<scenes.sceneCount).map { _ in
                    DenseLayer(inputs: spec.inputWidth, outputs: scenes.localWidth, initialization: .xavier, using: &rng)
                }
            }
        } ?? []
        partitionedNorm = spec.partitionedNorm.map { pn in
            Array(repeating: PartitionedNormParameters(scenes: pn.sceneCount, width: spec.metaWidth), count: spec.taskCount)
        } ?? []
    }

    /// Task `k`'s tower as scene `scene` sees it: `θ_eff,s` (``StarTower``), or the shared tower
    /// for an unknown scene (`scene < 0`) or a model without STAR towers.
    public func tower(ofTask k: Int, scene: Int) -> MLPParameters {
        guard !starTowers.isEmpty, scene >= 0 else { return towers[k] }
        return StarTower.effective(shared: towers[k], scene: starTowers[k][scene])
    }

    /// Zero parameters of the same shapes as `other`.
    public static func zeros(like other: ModelParameters) -> ModelParameters {
        ModelParameters(
            experts: other.experts.map { $0.zeros() }, gates: other.gates.map { $0.zeros() },
            towers: other.towers.map { $0.zeros() }, innerRates: other.innerRates.map { $0.zeros() },
            starTowers: other.starTowers.map { $0.map { $0.zeros() } }, sceneGates: other.sceneGates.map { $0.map { $0.zeros() } },
            partitionedNorm: other.partitionedNorm.map { $0.zeros() })
    }

    /// Number of scalars.
    public var parameterCount: Int {
        var n = 0
        forEachTensor { _, t in n += t.count }
        return n
    }

    /// Visits every tensor with its checkpoint name, e.g. `experts.0.layers.1.weight`,
    /// `gates.1.bias`, `towers.0.layers.0.weight`, `inner_rates.0.layers.0.weight`,
    /// `star_towers.0.2.layers.0.weight` (task 0, scene 2), `scene_gates.1.2.weight` (task 1, scene 2),
    /// `partitioned_norm.0.scene_gamma`.
    /// The order is stable.
    public func forEachTensor(_ body: (String, Tensor) throws -> Void) rethrows {
        for (e, mlp) in experts.enumerated() { try Self.visit(mlp, prefix: "experts.\(e)", body) }
        for (k, gate) in gates.enumerated() {
            try body("gates.\(k).weight", gate.weight)
            try body("gates.\(k).bias", gate.bias)
        }
        for (k, mlp) in towers.enumerated() { try Self.visit(mlp, prefix: "towers.\(k)", body) }
        for (k, mlp) in innerRates.enumerated() { try Self.visit(mlp, prefix: "inner_rates.\(k)", body) }
        for (k, scenes) in starTowers.enumerated() {
            for (s, mlp) in scenes.enumerated() { try Self.visit(mlp, prefix: "star_towers.\(k).\(s)", body) }
        }
        for (k, scenes) in sceneGates.enumerated() {
            for (s, gate) in scenes.enumerated() {
                try body("scene_gates.\(k).\(s).weight", gate.weight)
                try body("scene_gates.\(k).\(s).bias", gate.bias)
            }
        }
        for (k, norm) in partitionedNorm.enumerated() {
            for field in PartitionedNormParameters.Field.allCases { try body("partitioned_norm.\(k).\(field.rawValue)", norm[field]) }
        }
    }

    private static func visit(_ mlp: MLPParameters, prefix: String, _ body: (String, Tensor) throws -> Void) rethrows {
        for (l, layer) in mlp.layers.enumerated() {
            try body("\(prefix).layers.\(l).weight", layer.weight)
            try body("\(prefix).layers.\(l).bias", layer.bias)
        }
    }

    /// Mutable visit of every tensor, in the order of ``forEachTensor(_:)``.
    public mutating func updateEachTensor(_ body: (String, inout Tensor) throws -> Void) rethrows {
        for e in experts.indices { try Self.update(&experts[e], prefix: "experts.\(e)", body) }
        for k in gates.indices {
            try body("gates.\(k).weight", &gates[k].weight)
            try body("gates.\(k).bias", &gates[k].bias)
        }
        for k in towers.indices { try Self.update(&towers[k], prefix: "towers.\(k)", body) }
        for k in innerRates.indices { try Self.update(&innerRates[k], prefix: "inner_rates.\(k)", body) }
        for k in starTowers.indices {
            for s in starTowers[k].indices { try Self.update(&starTowers[k][s], prefix: "star_towers.\(k).\(s)", body) }
        }
        for k in sceneGates.indices {
            for s in sceneGates[k].indices {
                try body("scene_gates.\(k).\(s).weight", &sceneGates[k][s].weight)
                try body("scene_gates.\(k).\(s).bias", &sceneGates[k][s].bias)
            }
        }
        for k in partitionedNorm.indices {
            for field in PartitionedNormParameters.Field.allCases {
                try partitionedNorm[k].withTensor(field) { try body("partitioned_norm.\(k).\(field.rawValue)", &$0) }
            }
        }
    }

    private static func update(_ mlp: inout MLPParameters, prefix: String, _ body: (String, inout Tensor) throws -> Void) rethrows {
        for l in mlp.layers.indices {
            try body("\(prefix).layers.\(l).weight", &mlp.layers[l].weight)
            try body("\(prefix).layers.\(l).bias", &mlp.layers[l].bias)
        }
    }

    /// Every tensor's checkpoint name and key path, in the order of ``forEachTensor(_:)``.
    /// Fine for reads; for writes in a hot loop use ``withTensor(at:_:)``: a key-path write
    /// through an array element gets and sets the element, which copies the tensor's storage.
    public var tensorPaths: [(name: String, path: WritableKeyPath<ModelParameters, Tensor>)] {
        var out: [(name: String, path: WritableKeyPath<ModelParameters, Tensor>)] = []
        for e in experts.indices {
            for l in experts[e].layers.indices {
                out.append(("experts.\(e).layers.\(l).weight", \.experts[e].layers[l].weight))
                out.append(("experts.\(e).layers.\(l).bias", \.experts[e].layers[l].bias))
            }
        }
        for k in gates.indices {
            out.append(("gates.\(k).weight", \.gates[k].weight))
            out.append(("gates.\(k).bias", \.gates[k].bias))
        }
        for k in towers.indices {
            for l in towers[k].layers.indices {
                out.append(("towers.\(k).layers.\(l).weight", \.towers[k].layers[l].weight))
                out.append(("towers.\(k).layers.\(l).bias", \.towers[k].layers[l].bias))
            }
        }
        for k in innerRates.indices {
            for l in innerRates[k].layers.indices {
                out.append(("inner_rates.\(k).layers.\(l).weight", \.innerRates[k].layers[l].weight))
                out.append(("inner_rates.\(k).layers.\(l).bias", \.innerRates[k].layers[l].bias))
            }
        }
        for k in starTowers.indices {
            for s in starTowers[k].indices {
                for l in starTowers[k][s].layers.indices {
                    out.append(("star_towers.\(k).\(s).layers.\(l).weight", \.starTowers[k][s].layers[l].weight))
                    out.append(("star_towers.\(k).\(s).layers.\(l).bias", \.starTowers[k][s].layers[l].bias))
                }
            }
        }
        for k in sceneGates.indices {
            for s in sceneGates[k].indices {
                out.append(("scene_gates.\(k).\(s).weight", \.sceneGates[k][s].weight))
                out.append(("scene_gates.\(k).\(s).bias", \.sceneGates[k][s].bias))
            }
        }
        for k in partitionedNorm.indices {
            out.append(("partitioned_norm.\(k).gamma", \.partitionedNorm[k].gamma))
            out.append(("partitioned_norm.\(k).beta", \.partitionedNorm[k].beta))
            out.append(("partitioned_norm.\(k).scene_gamma", \.partitionedNorm[k].sceneGamma))
            out.append(("partitioned_norm.\(k).scene_beta", \.partitionedNorm[k].sceneBeta))
            out.append(("partitioned_norm.\(k).running_mean", \.partitionedNorm[k].runningMean))
            out.append(("partitioned_norm.\(k).running_variance", \.partitionedNorm[k].runningVariance))
        }
        return out
    }

    /// Where one tensor lives: optimisers walk parameters, gradients and moments of the same
    /// shape in lockstep by slot (``tensorSlots``, ``tensor(at:)``, ``withTensor(at:_:)``).
    public enum TensorSlot: Sendable, Hashable {
        case expert(Int, layer: Int, bias: Bool)
        case gate(Int, bias: Bool)
        case tower(Int, layer: Int, bias: Bool)
        case innerRate(Int, layer: Int, bias: Bool)
        /// Task `k`'s STAR factors of scene `s`.
        case starTower(Int, scene: Int, layer: Int, bias: Bool)
        /// Task `k`'s gate of scene `s` (``SceneExperts/Gates/perScene``).
        case sceneGate(Int, scene: Int, bias: Bool)
        /// Task `k`'s partitioned normalisation tensor `field` (its running statistics are state:
        /// ``PartitionedNormParameters/Field/isStatistic``).
        case partitionedNorm(Int, PartitionedNormParameters.Field)
    }

    /// Every tensor's slot, in the order of ``forEachTensor(_:)``.
    public var tensorSlots: [TensorSlot] {
        var out: [TensorSlot] = []
        for e in experts.indices {
            for l in experts[e].layers.indices { out += [.expert(e, layer: l, bias: false), .expert(e, layer: l, bias: true)] }
        }
        for k in gates.indices { out += [.gate(k, bias: false), .gate(k, bias: true)] }
        for k in towers.indices {
            for l in towers[k].layers.indices { out += [.tower(k, layer: l, bias: false), .tower(k, layer: l, bias: true)] }
        }
        for k in innerRates.indices {
            for l in innerRates[k].layers.indices {
                out += [.innerRate(k, layer: l, bias: false), .innerRate(k, layer: l, bias: true)]
            }
        }
        for k in starTowers.indices {
            for s in starTowers[k].indices {
                for l in starTowers[k][s].layers.indices {
                    out += [.starTower(k, scene: s, layer: l, bias: false), .starTower(k, scene: s, layer: l, bias: true)]
                }
            }
        }
        for k in sceneGates.indices {
            for s in sceneGates[k].indices { out += [.sceneGate(k, scene: s, bias: false), .sceneGate(k, scene: s, bias: true)] }
        }
        for k in partitionedNorm.indices { out += PartitionedNormParameters.Field.allCases.map { .partitionedNorm(k, $0) } }
        return out
    }

    /// The tensor at `slot`.
    public func tensor(at slot: TensorSlot) -> Tensor {
        switch slot {
        case .expert(let e, let l, let bias): bias ? experts[e].layers[l].bias : experts[e].layers[l].weight
        case .gate(let k, let bias): bias ? gates[k].bias : gates[k].weight
        case .tower(let k, let l, let bias): bias ? towers[k].layers[l].bias : towers[k].layers[l].weight
        case .innerRate(let k, let l, let bias): bias ? innerRates[k].layers[l].bias : innerRates[k].layers[l].weight
        case .starTower(let k, let s, let l, let bias): bias ? starTowers[k][s].layers[l].bias : starTowers[k][s].layers[l].weight
        case .sceneGate(let k, let s, let bias): bias ? sceneGates[k][s].bias : sceneGates[k][s].weight
        case .partitionedNorm(let k, let field): partitionedNorm[k][field]
        }
    }

    /// In-place access to the tensor at `slot` (a direct `inout` through the arrays: no copy).
    public mutating func withTensor<R>(at slot: TensorSlot, _ body: (inout Tensor) throws -> R) rethrows -> R {
        switch slot {
        case .expert(let e, let l, let bias):
            bias ? try body(&experts[e].layers[l].bias) : try body(&experts[e].layers[l].weight)
        case .gate(let k, let bias):
            bias ? try body(&gates[k].bias) : try body(&gates[k].weight)
        case .tower(let k, let l, let bias):
            bias ? try body(&towers[k].layers[l].bias) : try body(&towers[k].layers[l].weight)
        case .innerRate(let k, let l, let bias):
            bias ? try body(&innerRates[k].layers[l].bias) : try body(&innerRates[k].layers[l].weight)
        case .starTower(let k, let s, let l, let bias):
            bias ? try body(&starTowers[k][s].layers[l].bias) : try body(&starTowers[k][s].layers[l].weight)
        case .sceneGate(let k, let s, let bias):
            bias ? try body(&sceneGates[k][s].bias) : try body(&sceneGates[k][s].weight)
        case .partitionedNorm(let k, let field):
            try partitionedNorm[k].withTensor(field, body)
        }
    }

    /// `self += alpha · other`, tensor by tensor (gradient sums, SGD steps); running statistics
    /// are state, not summed.
    public mutating func addScaled(_ other: ModelParameters, by alpha: Float) {
        for slot in tensorSlots {
            if case .partitionedNorm(_, let field) = slot, field.isStatistic { continue }
            withTensor(at: slot) { $0.addScaled(other.tensor(at: slot), by: alpha) }
        }
    }

    /// One step of every task's partitioned-norm running statistics from a batch's sums
    /// (``PartitionedNormParameters/updateRunningStatistics(with:momentum:)``); `sums[k]` is task
    /// `k`'s, already added over a data-parallel step's workers. No-op without partitioned norm.
    public mutating func updateRunningStatistics(with sums: [PartitionedNormSums], momentum: Float) {
        guard !partitionedNorm.isEmpty, sums.count == partitionedNorm.count else { return }
        for k in partitionedNorm.indices where sums[k].groups > 0 {
            partitionedNorm[k].updateRunningStatistics(with: sums[k], momentum: momentum)
        }
    }

    /// Sets every tensor to zero, keeping storage.
    public mutating func zero() {
        updateEachTensor { _, t in t.fill(0) }
    }
}
