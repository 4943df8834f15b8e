import TensorCore

/// One task's tower as a value: its parameters `θ_k`, its Meta-SGD rates `ρ_k` and how it reads
/// its output. Copying it is MAML's clone (`var fast = tower`); ``adapt(on:policy:normalizer:workspace:)``
/// is the one inner-loop entry point that training, evaluation and serving call.
public struct Tower: Sendable, Equatable {
    /// `θ`: `H → … → 1`, last layer linear.
    public var parameters: MLPParameters
    /// Meta-SGD's `ρ`, shaped like ``parameters``; nil = 1 (plain MAML). Never adapted.
    public var rates: MLPParameters?
    public var kind: TaskKind
    public var activation: Activation

    public init(parameters: MLPParameters, rates: MLPParameters? = nil, kind: TaskKind, activation: Activation) {
        precondition(rates.map { r in r.layers.count == parameters.layers.count
            && zip(r.layers, parameters.layers).allSatisfy { $0.weight.shape == $1.weight.shape } } ?? true,
                     "Tower: the rate multipliers are not shaped like the tower")
        self.parameters = parameters
        self.rates = rates
        self.kind = kind
        self.activation = activation
    }
}

/// `S` rows of a task as the inner loop reads them: row `s` of `f` is
/// `features[s·featureStride ..< s·featureStride + H]`, its label `labels[s·labelStride]` (NaN =
/// missing). A view: the memory belongs to the caller and must outlive the call it is passed to,
/// so a task's column block of the support store's `(S, K·H)` rows needs no copy.
public struct TowerRows {
    public let count: Int
    public let features: UnsafePointer<Float>
    public let featureStride: Int
    public let labels: UnsafePointer<Float>
    public let labelStride: Int

    public init(count: Int, features: UnsafePointer<Float>, featureStride: Int, labels: UnsafePointer<Float>, labelStride: Int = 1) {
        precondition(count >= 0 && labelStride >= 1, "TowerRows: count \(count), labelStride \(labelStride)")
        self.count = count
        self.features = features
        self.featureStride = featureStride
        self.labels = labels
        self.labelStride = labelStride
    }

    /// Calls `body` with `f` `(S, H)` and `y` `(S)` as rows.
    public static func with<R>(_ f: Tensor, labels y: Tensor, _ body: (TowerRows) -> R) -> R {
        precondition(f.rank == 2 && f.shape[0] == y.count, "TowerRows: features \(f.shape) vs labels \(y.shape)")
        return f.withUnsafeBufferPointer { fp in
            y.withUnsafeBufferPointer { yp in
                // An empty tensor may have no storage: any valid pointer serves for 0 rows.
                withUnsafePointer(to: Float.nan) { empty in
                    body(TowerRows(count: y.count, features: fp.baseAddress ?? empty, featureStride: f.shape[1],
                                   labels: yp.baseAddress ?? empty))
                }
            }
        }
    }

    /// Number of labelled rows.
    public var labelledCount: Int { TaskLoss.labelledCount(labels, count: count, stride: labelStride) }
}

extension Tower {
    /// Adapts this tower to `support` under `policy`, in place: `k` SGD steps of the inner loss on
    /// the adapted layers, then the head solver. Returns with `self` unchanged when no row is
    /// labelled.
    ///
    /// Towers of one hidden layer and one output (`H → T → 1`, every config's towers) take the
    /// fused path (``TwoLayerTower``): the same steps, two GEMMs and one element-wise pass each way.
    ///
    /// - Parameter normalizer: `n` of the pointwise loss; defaults to the set's labelled count ("num").
    public mutating func adapt(on support: TowerRows, policy: Adaptation, normalizer: Int? = nil,
                               workspace ws: inout TowerWorkspace) {
        let width = parameters.inputWidth
        precondition(support.featureStride >= width || support.count == 0,
                     "adapt: featureStride \(support.featureStride) < H = \(width)")
        let n = normalizer ?? support.labelledCount
        guard n > 0, support.count > 0 else { return }
        if policy.steps > 0 && !policy.adapts.isEmpty {
            if TwoLayerTower.applies(to: parameters) {
                TwoLayerTower.adapt(&parameters, rows: support, policy: policy, kind: kind, activation: activation,
                                    normalizer: n, rates: rates, scratch: &ws.twoLayer)
            } else {
                ws.stage(support, width: width)
                let (input, labels) = (ws.stagedInput, ws.stagedLabels)
                for _ in 0..<policy.steps {
                    TowerObjective.gradient(self, input: input, labels: labels, loss: policy.loss, normalizer: n,
                                            inputGradient: false, workspace: &ws)
                    ws.gradients!.zeroLayers(except: policy.adapts)
                    parameters.descend(along: ws.gradients!, learningRate: policy.learningRate, rates: rates)
                }
            }
        }
        switch policy.head {
        case .gradient: break
        case .ridge(let l2, let scale):
            RidgeHead.solve(&self, on: support, loss: policy.loss, normalizer: n, l2: scale.meanLossL2(l2, rows: n),
                            workspace: &ws)
        case .offset: OffsetHead.solve(&self, on: support, workspace: &ws)
        }
    }

    /// This tower adapted to `support` (``adapt(on:policy:normalizer:workspace:)`` on a copy).
    public func adapted(on support: TowerRows, policy: Adaptation, normalizer: Int? = nil,
                        workspace ws: inout TowerWorkspace) -> Tower {
        var fast = self
        fast.adapt(on: support, policy: policy, normalizer: normalizer, workspace: &ws)
        return fast
    }

    /// The tower's outputs on `rows` rows of `f` (row `i` at `features + i·featureStride`): `σ(z)`
    /// for binary tasks, `z` for regression, into `output[i · outputStride]`. Returns whether
    /// every output is finite.
    public func predict(
        rows: Int, features: UnsafePointer<Float>, featureStride: Int, into output: UnsafeMutablePointer<Float>,
        outputStride: Int = 1, workspace ws: inout TowerWorkspace
    ) -> Bool {
        TowerObjective.predictions(parameters, rows: rows, features: features, featureStride: featureStride, kind: kind,
                                   activation: activation, into: output, outputStride: outputStride, workspace: &ws)
    }

    /// ``predict(rows:features:featureStride:into:outputStride:workspace:)`` on `f` `(S, H)`, into `out` `(S)`.
    public func predictions(_ f: Tensor, into out: inout [Float], workspace ws: inout TowerWorkspace) {
        TowerObjective.predictions(parameters, input: f, kind: kind, activation: activation, into: &out, workspace: &ws)
    }
}

extension MLPParameters {
    /// `θ ← θ − α·ρ ⊙ g` (`ρ` nil: `θ ← θ − α·g`), tensor by tensor.
    public mutating func descend(along g: MLPParameters, learningRate alpha: Float, rates: MLPParameters?) {
        guard let rates else {
            for l in layers.indices {
                layers[l].weight.addScaled(g.layers[l].weight, by: -alpha)
                layers[l].bias.addScaled(g.layers[l].bias, by: -alpha)
            }
            return
        }
        addProduct(rates, g, scale: -alpha)
    }

    /// Zeroes every layer that `adapts` leaves out (a gradient masked to the adapted layers).
    mutating func zeroLayers(except adapts: AdaptedLayers) {
        guard adapts != .all else { return }
        for l in layers.indices where !adapts.adapts(layer: l, of: layers.count) {
            layers[l].weight.fill(0)
            layers[l].bias.fill(0)
        }
    }
}
