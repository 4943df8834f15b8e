import ModelMath

extension ModelConfig {
    /// Size guards (YAML `limits`): a config whose estimated size exceeds them is refused at
    /// validation, before anything is allocated. Raise them deliberately for a bigger model.
    public struct Limits: Sendable, Equatable, Codable {
        /// Most dense parameters (experts, gates, towers, Meta-SGD rates; embedding rows are not
        /// counted: they are created on first touch). YAML `max_parameters`, default 100 000 000.
        public var maxParameters: Int = 100_000_000
        /// Most bytes of ``estimatedMemoryBytes``. YAML `max_memory_bytes`, default 8 GiB.
        public var maxMemoryBytes: Int = 8 << 30

        public init(maxParameters: Int = 100_000_000, maxMemoryBytes: Int = 8 << 30) {
            self.maxParameters = maxParameters
            self.maxMemoryBytes = maxMemoryBytes
        }
    }

    /// Fixed bounds on counts that no `limits` key raises: beyond them a value is a typo or an
    /// attack (`serving.inner_steps: 1000000000` would hang every request), or would overflow
    /// the arithmetic of the parameter server (`support_store.max_tasks × capacity`).
    public enum Bounds {
        /// `meta.inner_steps` and `serving.inner_steps` (a request's own `steps` has the same cap).
        public static let innerSteps = 100
        public static let epochs = 100_000
        public static let batchSize = 1 << 20
        public static let threads = 1024
        public static let shuffleBufferRows = 1 << 32
        /// `model.embedding_dim` (the parameter server's row-width bound).
        public static let embeddingDimension = 1 << 16
        /// `embeddings.admission_count` (the admission sketch counts to 255).
        public static let admissionCount = 255
        /// Either `ttl_seconds`: 2³² s, about 136 years.
        public static let ttlSeconds = 1 << 32
        /// `support_store.capacity` (`S_max`).
        public static let supportCapacity = 1 << 16
        /// Floats of support rows one task may hold: `K · H · capacity` (the parameter server's bound).
        public static let supportTaskFloats = 1 << 26
        /// `K · H`, the floats of one support row (the parameter server's bound).
        public static let supportRowFloats = 1 << 20
        public static let maxTasks = 1_000_000_000
        public static let maxCandidates = 1 << 20
        public static let maxBodyBytes = 1 << 30
        public static let batchMaxRequests = 1 << 12
        /// `serving.batch_max_wait_microseconds`: 10 s.
        public static let batchMaxWaitMicroseconds = 10_000_000
    }

    /// `D = (Fc + Fm) · embedding_dim + Fn` in Double (``inputWidth`` is an `Int` and would
    /// overflow for an absurd `embedding_dim`).
    var estimatedInputWidth: Double {
        Double(categoricalFeatures.count + multiCategoricalFeatures.count + supportPoolCount) * Double(model.embeddingDimension)
            + Double(numericFeatures.count)
    }

    /// The dense parameter count `P` the config describes, in Double so an absurd config cannot
    /// overflow (it equals `ModelParameters(spec: networkSpec, …).parameterCount` when finite):
    ///
    /// ```
    /// mlp(n₀; n₁ … n_L) = Σ_l (n_{l−1} + 1) · n_l
    /// P = E · mlp(D; expert_layers)  + K · (D + 1) · G           MMoE (experts and gates; E with scene experts)
    ///   |     mlp(D; shared_bottom_layers)                         Shared-Bottom
    ///   + K · mlp(H; tower_layers, 1) · (1 + 1 with learned inner rates + S with STAR towers of S scenes)
    ///   + K · H · (4S + 4)                                           partitioned norm of S scenes
    /// G = E, or with per-scene gates over S scenes of p experts and s shared ones: s + S · (s + p)
    /// ```
    public var estimatedParameterCount: Double {
        func mlp(_ input: Double, _ widths: [Int]) -> Double {
            var total = 0.0, n = input
            for w in widths.map(Double.init) {
                total += (n + 1) * w
                n = w
            }
            return total
        }
        let d = estimatedInputWidth, k = Double(taskCount), e = Double(expertCount)
        let bottom: Double = switch model.architecture {
        case .mmoe: e * mlp(d, model.expertLayers) + k * (d + 1) * gateColumns
        case .sharedBottom: mlp(d, model.sharedBottomLayers)
        }
        let towers = k * mlp(Double(expertOutputWidth), model.towerLayers + [1])
        let copies = 1 + (meta.enabled && meta.learnInnerRates ? 1 : 0) + Double(model.starTowers?.scenes.count ?? 0)
        // Partitioned norm: per task γ, β (H), γ_s, β_s (S, H) and running μ̂, σ̂² (S + 1, H).
        let norm = model.partitionedNorm.map { k * Double(expertOutputWidth) * Double(4 * $0.scenes.count + 4) } ?? 0
        return bottom + towers * copies + norm
    }

    /// Gate columns of one task: `E`, or with `model.scene_experts.gates: per_scene` the unknown
    /// scene's gate over the shared experts and each scene's over the shared and its own.
    var gateColumns: Double {
        guard let s = model.sceneExperts, s.gates == .perScene else { return Double(expertCount) }
        return Double(model.experts + s.scenes.count * (model.experts + s.perScene))
    }

    /// A rough upper estimate of the bytes training and serving this config hold at once
    /// (Float32 everywhere; `P` = ``estimatedParameterCount``, `B` = `batch_size`,
    /// `T` = `training.threads`, `C` = `serving.max_candidates`, `R` = `serving.batch_max_requests`):
    ///
    /// ```
    /// A      = D·(1 + 1 with scene experts) + E · Σ expert_layers (or Σ shared_bottom_layers) + K · E
    ///          + c · K · (H + Σ tower_layers + 1)
    ///                                   activations of one row through the network (c = 2 with STAR
    ///                                   towers, which gather each scene's rows: a second copy; else 1;
    ///                                   scene experts gather each scene's input rows: a second D)
    /// r      = 2 · (Fc + Fm) + Fn + K + 4   floats of one encoded row (a key counts 2; one key per
    ///                                   multi-categorical feature, so long lists cost more than this)
    /// bytes  = 4 · P · (5 + T)          weights, best copy, two optimiser states, summed gradient, one per thread
    ///        + 4 · 3 · B · A            activations, their gradients, the inner loop's copies
    ///        + 4 · shuffle_buffer · r   the shuffle buffer
    ///        + 4 · 2 · C · R · A        one serving auto-batch (activations and scores)
    /// ```
    /// The embedding table and the support store grow with the data and are bounded by their
    /// own settings, so they are not in the estimate.
    public var estimatedMemoryBytes: Double {
        func sum(_ widths: [Int]) -> Double { widths.reduce(0.0) { $0 + Double($1) } }
        let d = estimatedInputWidth, k = Double(taskCount), h = Double(expertOutputWidth)
        let bottomFloats: Double = switch model.architecture {
        case .mmoe: Double(expertCount) * sum(model.expertLayers)
        case .sharedBottom: sum(model.sharedBottomLayers)
        }
        let experts = model.architecture == .mmoe ? Double(expertCount) : 1
        // STAR towers keep a second copy of the towers' inputs and activations, grouped by scene.
        let towerCopies: Double = model.starTowers == nil ? 1 : 2
        // Scene experts gather each scene's rows of x: a second copy.
        let inputCopies: Double = model.sceneExperts == nil ? 1 : 2
        // Partitioned norm keeps each task's raw f_k and its normalised x̂ beside f'_k.
        let normCopies: Double = model.partitionedNorm == nil ? 0 : 2
        let activations = inputCopies * d + bottomFloats + k * experts + towerCopies * k * (h + sum(model.towerLayers) + 1)
            + normCopies * k * h
        let keyed = Double(categoricalFeatures.count + multiCategoricalFeatures.count)
        let rowFloats = 2 * keyed + Double(numericFeatures.count) + k + 4
        let shuffleRows: Double = switch training.shuffle {
        case .none: 0
        case .buffer(let rows): Double(rows)
        }
        let dense = 4 * estimatedParameterCount * (5 + Double(training.threads))
        let training = 4 * 3 * Double(self.training.batchSize) * activations + 4 * shuffleRows * rowFloats
        let serving = 4 * 2 * Double(self.serving.maxCandidates) * Double(self.serving.batchMaxRequests) * activations
        return dense + training + serving
    }
}
