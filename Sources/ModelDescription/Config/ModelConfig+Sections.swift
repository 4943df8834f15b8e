import ModelMath
import ParamServer

extension ModelConfig {
    /// Network shape (YAML `model`). Symbols as in `docs/DESIGN.md` §Math: `E` experts, `H`
    /// expert output width.
    public struct Network: Sendable, Equatable, Codable {
        /// MMoE or a single shared bottom. YAML `architecture`, default `mmoe`.
        public var architecture: Architecture = .mmoe
        /// Width `d` of every embedding row. YAML `embedding_dim`, default 16.
        public var embeddingDimension: Int = 16
        /// Number of experts `E` (MMoE). YAML `experts`, default 4.
        public var experts: Int = 4
        /// Hidden widths of each expert MLP (ReLU); the last is `H`. YAML `expert_layers`, default [64, 32].
        public var expertLayers: [Int] = [64, 32]
        /// Hidden widths of each tower MLP (ReLU); the output width 1 is implicit, so `[]` is a
        /// linear tower. YAML `tower_layers`, default [32].
        public var towerLayers: [Int] = [32]
        /// Hidden widths of the shared-bottom MLP (`shared_bottom` only); the last is `H`.
        /// YAML `shared_bottom_layers`, default [64, 32].
        public var sharedBottomLayers: [Int] = [64, 32]
        /// Seed of the parameter initialisers. YAML `seed`, default 1.
        public var seed: UInt64 = 1
        /// The support-set encoder (``SupportEncoder``): the user's support items pooled into
        /// extra input blocks. YAML `support_encoder`, default none (off).
        public var supportEncoder: SupportEncoderSpec? = nil
        /// Per-scene experts beside the `experts` shared ones (MMoE with a `scene` column):
        /// ``SceneExpertsSpec``. YAML `scene_experts`, default none.
        public var sceneExperts: SceneExpertsSpec? = nil
        /// STAR towers (Sheng et al. CIKM 2021) over the `scene` column: ``StarTowersSpec``.
        /// YAML `star_towers`, default none (plain towers).
        public var starTowers: StarTowersSpec? = nil
        /// Partitioned normalisation of the towers' inputs per scene: ``PartitionedNormSpec``.
        /// YAML `partitioned_norm`, default none.
        public var partitionedNorm: PartitionedNormSpec? = nil

        public init() {}
    }

    /// YAML `model.star_towers: {scenes: [a, b, c]}`, or `star_towers: true` for the scenes of
    /// `model.scene_experts`: every task tower keeps its shared parameters `(W, b)` and gets, per
    /// listed value of the `scene` column, factors `(W_s, b_s)` of the same shapes; a row of
    /// scene `s` is scored by `W ⊙ W_s`, `b + b_s` in every layer (``ModelMath/StarTowers``). A
    /// scene not listed is scored by the shared tower (`W_s = 1, b_s = 0`, the initialisation).
    public struct StarTowersSpec: Sendable, Equatable, Codable {
        /// The scene column's values, in scene order (1 … 64, no repeats). YAML `scenes`, required.
        public var scenes: [String]

        public init(scenes: [String]) { self.scenes = scenes }
    }

    /// YAML `model.partitioned_norm: {scenes: [a, b, c], momentum: 0.99, epsilon: 1e-5, min_batch_rows: 2}`, or
    /// `partitioned_norm: true`: every task's tower input `f_k` is normalised per row with its
    /// scene's statistics and affine (STAR's partitioned normalisation, ``ModelMath/PartitionedNormalization``):
    /// batch statistics in training, running ones (an EMA with `momentum`) in evaluation and serving.
    /// Without `scenes`, those of `star_towers`, else of `scene_experts`. A scene not listed uses the
    /// shared affine and statistics pooled over all scenes.
    public struct PartitionedNormSpec: Sendable, Equatable, Codable {
        /// The scene column's values, in scene order (1 … 64, no repeats).
        public var scenes: [String]
        /// The running statistics' EMA momentum `m` (`μ̂ ← m·μ̂ + (1 − m)·μ`), in [0, 1). YAML `momentum`, default 0.99.
        public var momentum: Double
        /// Added to every variance, > 0. YAML `epsilon`, default 1e-5.
        public var epsilon: Double
        /// A scene with fewer rows than this in a training batch (worker shard) is normalised with
        /// its running statistics instead of the batch's (≥ 2). YAML `min_batch_rows`, default 2.
        public var minimumBatchRows: Int

        public init(scenes: [String], momentum: Double = 0.99, epsilon: Double = 1e-5, minimumBatchRows: Int = 2) {
            self.scenes = scenes
            self.momentum = momentum
            self.epsilon = epsilon
            self.minimumBatchRows = minimumBatchRows
        }
    }

    /// YAML `model.scene_experts: {per_scene: 1, scenes: [a, b, c], gates: shared}`: each listed
    /// value of the `scene` column gets `per_scene` experts of its own; a row's gates mix the
    /// `experts` shared ones and its scene's (``ModelMath/SceneExperts``). A scene not listed mixes
    /// the shared ones.
    public struct SceneExpertsSpec: Sendable, Equatable, Codable {
        /// Experts of each scene (≥ 1). YAML `per_scene`, default 1.
        public var perScene: Int = 1
        /// The scene column's values, in scene order (1 … 64, no repeats). YAML `scenes`, required.
        public var scenes: [String]
        /// Which gates mix the experts. YAML `gates`, default `shared`.
        public var gates: SceneGates = .shared

        public init(perScene: Int = 1, scenes: [String], gates: SceneGates = .shared) {
            self.perScene = perScene
            self.scenes = scenes
            self.gates = gates
        }

        private enum CodingKeys: String, CodingKey { case perScene, scenes, gates }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            perScene = try c.decode(Int.self, forKey: .perScene)
            scenes = try c.decode([String].self, forKey: .scenes)
            // Manifests written before per-scene gates have no `gates`.
            gates = try c.decodeIfPresent(SceneGates.self, forKey: .gates) ?? .shared
        }
    }

    /// YAML `model.scene_experts.gates`: the gates that mix a row's shared and scene experts.
    public enum SceneGates: String, Sendable, Equatable, Codable, CaseIterable {
        /// One gate per task over all `E` experts, the other scenes' logits masked (MMoE's gates).
        case shared
        /// One gate per task and scene over the shared experts and that scene's (PLE's customised
        /// gate control); a row of a scene not listed uses the task's gate over the shared experts.
        case perScene = "per_scene"
    }

    /// YAML `model.support_encoder: {source: item_id, pooling: [mean, label_weighted], label: rating}`:
    /// which categorical feature's embeddings are pooled over a row's earlier support rows, how
    /// (one input block of `d` per entry of `pooling`; a single name is a one-entry list), and
    /// which label weights `label_weighted`.
    public struct SupportEncoderSpec: Sendable, Equatable, Codable {
        /// A categorical feature (the item). YAML `source`, required.
        public var source: String
        /// The pooled blocks, in input order (≥ 1, no repeats). YAML `pooling`, default `[mean]`.
        public var pooling: [SupportEncoder.Pool]
        /// The weighting label (required by `label_weighted`). YAML `label`, default none.
        public var label: String?
        /// Which embedding rows the pools read: the source feature's (`shared`, SVD++-style
        /// gradient into the item embeddings) or their own (`own`, SVD++'s separate `y_j`).
        /// YAML `embedding`, default `shared`.
        public var embedding: Embedding = .shared
        /// `true`: the pools pass no gradient to the embedding rows they read (they are trained
        /// only in their other roles). YAML `stop_gradient`, default false.
        public var stopGradient = false

        public enum Embedding: String, Sendable, Equatable, Codable, CaseIterable { case shared, own }

        public init(source: String, pooling: [SupportEncoder.Pool] = [.mean], label: String? = nil, embedding: Embedding = .shared) {
            self.source = source
            self.pooling = pooling
            self.label = label
            self.embedding = embedding
        }
    }

    /// The bottom of the network below the task towers.
    public enum Architecture: String, Sendable, Equatable, Codable, CaseIterable {
        /// Multi-gate mixture of experts (Ma et al., KDD 2018): `E` experts, one softmax gate per task.
        case mmoe
        /// One MLP shared by every task (the classic hard-parameter-sharing baseline).
        case sharedBottom = "shared_bottom"
    }

    /// MAML on the towers (Finn et al. 2017), YAML `meta`.
    public struct Meta: Sendable, Equatable, Codable {
        /// `false`: no inner loop and `λ = 0` (plain multi-task training). YAML `enabled`, default true.
        public var enabled: Bool = true
        /// First-order (drop second derivatives) or full second-order MAML. YAML `order`, default `first`.
        public var order: MetaOrder = .first
        /// Inner SGD steps `k` on the support rows. YAML `inner_steps`, default 1.
        public var innerSteps: Int = 1
        /// Inner learning rate `α`. YAML `inner_learning_rate`, default 0.05.
        public var innerLearningRate: Double = 0.05
        /// `λ` in `L = L_base + λ · L_meta`. YAML `meta_weight`, default 1.0.
        public var metaWeight: Double = 1.0
        /// A task takes part in the meta-loss of a batch only with at least this many rows there
        /// (≥ 2: one support, one query). YAML `min_task_rows`, default 4.
        public var minTaskRows: Int = 4
        /// Fraction of a task's rows used as support (the rest is query), in (0, 1).
        /// YAML `support_fraction`, default 0.5.
        public var supportFraction: Double = 0.5
        /// With meta-learning on, the shuffle buffer permutes chunks of this many consecutive
        /// rows of one task (in time order), so a batch holds many tasks with enough rows each
        /// to split; 0 keeps whole tasks together. YAML `task_chunk_rows`, default 16.
        public var taskChunkRows: Int = 16
        /// Meta-SGD (Li et al. 2017): learn one inner-rate multiplier `ρ` per tower parameter, so
        /// the inner step is `θ ← θ − α·ρ ⊙ ∇L_S` (`ρ` starts at 1, saved with the model as
        /// `inner_rates.*`, used by evaluation and serving). Needs `enabled`.
        /// YAML `learn_inner_rates`, default false.
        public var learnInnerRates: Bool = false
        /// Adam's learning rate `η_ρ` for the multipliers `ρ` (they start at 1 and need to move
        /// further than the weights). YAML `inner_rates_learning_rate`, default 0.01.
        public var innerRatesLearningRate: Double = 0.01
        /// The support-set loss of the inner loop (training, evaluation and serving):
        /// `pointwise` (the task's BCE / squared error), `pairwise` (RankNet over the user's rows)
        /// or `listwise` (ListNet softmax); the ranking losses are invariant to a per-user offset,
        /// so adapting on them can only re-order. YAML `inner_loss`, default `pointwise`.
        public var innerLoss: InnerLossName = .pointwise
        /// Weight of the pointwise term added to a ranking inner loss. YAML
        /// `inner_pointwise_weight`, default 0.
        public var innerPointwiseWeight: Double = 0
        /// Which tower layers the inner steps move: `all`, `hidden` (the first layers, which mix
        /// the item-side input) or `output` (the logit layer). YAML `adapt_layers`, default `all`.
        public var adaptLayers: AdaptLayersName = .all
        /// `gradient` (the steps only), `ridge` (the last layer then solved in closed form on the
        /// support rows, a per-user ridge over the tower's hidden layer) or `offset` (the output
        /// bias refitted by the pointwise loss: puts a ranking loss's free offset back on the
        /// label scale). YAML `head_solver`, default `gradient`.
        public var headSolver: HeadSolverName = .gradient
        /// `λ` of the ridge head. YAML `head_l2`, default 1.0.
        public var headL2: Double = 1.0
        /// What `head_l2` is weighed against: `mean` (the mean support loss: the same pull for
        /// every support size) or `sum` (the summed loss: the pull fades as a user's support grows,
        /// as in matrix factorisation's ridge fold-in). YAML `head_l2_scale`, default `mean`.
        public var headL2Scale: HeadL2ScaleName = .mean

        public init() {}
    }

    /// `meta.inner_loss` values.
    public enum InnerLossName: String, Sendable, Equatable, Codable, CaseIterable { case pointwise, pairwise, listwise }
    /// `meta.adapt_layers` values.
    public enum AdaptLayersName: String, Sendable, Equatable, Codable, CaseIterable { case all, hidden, output }
    /// `meta.head_solver` values.
    public enum HeadSolverName: String, Sendable, Equatable, Codable, CaseIterable { case gradient, ridge, offset }
    /// `meta.head_l2_scale` values.
    public enum HeadL2ScaleName: String, Sendable, Equatable, Codable, CaseIterable { case mean, sum }

    /// Optimisers and the training loop, YAML `training`.
    public struct Training: Sendable, Equatable, Codable {
        /// Optimiser of the dense parameters (experts, gates, towers). YAML `optimizer`, default Adam.
        public var optimizer: Optimizer = .adam(.init())
        /// Row-wise optimiser of the embedding tables. YAML `embedding_optimizer`, default AdaGrad.
        public var embeddingOptimizer: Optimizer = .adagrad(.init())
        /// Rows per batch `B`. YAML `batch_size`, default 512.
        public var batchSize: Int = 512
        /// Passes over the training data. YAML `epochs`, default 5.
        public var epochs: Int = 5
        /// Seed of shuffling and support/query splitting. YAML `seed`, default 1.
        public var seed: UInt64 = 1
        /// Streaming shuffle. YAML `shuffle_buffer` (rows; 0 = no shuffle), default 100000.
        public var shuffle: Shuffle = .buffer(rows: 100_000)
        /// Worker threads. YAML `threads`, default 2.
        public var threads: Int = 2
        /// Stop after this many epochs without validation improvement.
        /// YAML `early_stopping_patience` (0 = off), default 2.
        public var earlyStopping: EarlyStopping = .patience(epochs: 2)
        /// Malformed CSV rows skipped (and counted) before training fails; 0 = fail on the first.
        /// YAML `max_bad_rows`, default 0.
        public var maxBadRows: Int = 0

        public init() {}
    }

    /// Streaming shuffle of the training rows.
    public enum Shuffle: Sendable, Equatable, Codable {
        /// Rows are used in file order (YAML `shuffle_buffer: 0`).
        case none
        /// A reservoir of `rows` rows; each batch draws from it at random.
        case buffer(rows: Int)
    }

    /// When training stops early.
    public enum EarlyStopping: Sendable, Equatable, Codable {
        /// Always run every epoch (YAML `early_stopping_patience: 0`).
        case off
        /// Stop after `epochs` epochs without validation improvement.
        case patience(epochs: Int)
    }

    /// Time-based expiry of stored rows.
    public enum Expiry: Sendable, Equatable, Codable {
        /// Rows never expire (YAML `ttl_seconds: 0`).
        case never
        /// Rows not touched for `seconds` seconds expire.
        case after(seconds: Int)
    }

    /// Embedding tables in the parameter server, YAML `embeddings`.
    public struct Embeddings: Sendable, Equatable, Codable {
        /// A key gets a row after this many sightings (1 = on first touch); before that it
        /// reads as zeros. YAML `admission_count`, default 1.
        public var admissionCount: Int = 1
        /// Rows not touched for this long are dropped. YAML `ttl_seconds` (0 = never), default 0.
        public var expiry: Expiry = .never

        public init() {}
    }

    /// The support store ("meta-layer input" table), YAML `support_store`.
    public struct SupportStore: Sendable, Equatable, Codable {
        /// `S_max`: most recent rows kept per task. YAML `capacity`, default 64.
        public var capacity: Int = 64
        /// Rows older than this are never served. YAML `ttl_seconds` (0 = never), default 2592000 (30 days).
        public var expiry: Expiry = .after(seconds: 2_592_000)
        /// A task's newest rows that survive a sweep even when expired (≤ capacity).
        /// YAML `keep_floor`, default 4.
        public var keepFloor: Int = 4
        /// Global bound on stored tasks (users); least recently used go first. YAML `max_tasks`,
        /// default 1000000, at most 1000000000.
        public var maxTasks: Int = 1_000_000
        /// Global bound on the bytes charged to stored tasks (each task's block of its size class,
        /// entry and index share); least recently used go first. YAML `max_bytes`, default
        /// 1073741824 (1 GiB), in 1 MiB … 1 TiB.
        public var maxBytes: Int = 1 << 30

        public init() {}
    }

    /// Serving, YAML `serving`.
    public struct Serving: Sendable, Equatable, Codable {
        /// Fine-tune the towers on the user's support rows per request. YAML `finetune`, default true.
        public var finetune: Bool = true
        /// Inner steps at serving time (may differ from `meta.inner_steps`). YAML `inner_steps`, default 3.
        public var innerSteps: Int = 3
        /// Inner learning rate at serving time. YAML `inner_learning_rate`, default 0.05.
        public var innerLearningRate: Double = 0.05
        /// Fewest support rows a user needs to be fine-tuned; fewer → the base towers (a user with
        /// a handful of rows can be hurt by adaptation). YAML `finetune_min_support_rows`, default 1.
        public var finetuneMinSupportRows: Int = 1
        /// Most candidates in one request `C`. YAML `max_candidates`, default 1000.
        public var maxCandidates: Int = 1000
        /// Largest accepted HTTP body. YAML `max_body_bytes`, default 1048576.
        public var maxBodyBytes: Int = 1_048_576
        /// Most requests merged into one auto-batch `R`. YAML `batch_max_requests`, default 4
        /// (smaller merges keep the batch's buffers in cache and release its requests sooner;
        /// the measurements behind the default are in `Sources/Serving/README.md`).
        public var batchMaxRequests: Int = 4
        /// Longest wait for a batch to fill, in µs. YAML `batch_max_wait_microseconds`, default 200.
        public var batchMaxWaitMicroseconds: Int = 200
        /// The fallback's margin: a fine-tuned regression prediction outside the training labels'
        /// `[min, max]` widened by this fraction of its width sends the request to the base towers.
        /// YAML `fallback_label_margin`, default 0.5.
        public var fallbackLabelMargin: Double = 0.5
        /// The fallback's bound on the update: `‖θ' − θ‖ / ‖θ‖` above this sends the request to the
        /// base towers. YAML `fallback_max_weight_change`, default 1.0.
        public var fallbackMaxWeightChange: Double = 1.0
        /// How the support store keeps the meta-layer inputs of its rows when the model is loaded
        /// for serving or evaluation (`metarec serve`, `eval`, `eval-cold`; their
        /// `--support-precision` overrides it): `f32`, or `bf16` (half the bytes a row, each value
        /// rounded to 8 significant bits; ``ParamServer/SupportPrecision``). Training's store, and
        /// so the model directory's snapshot, stays float32. YAML `support_precision`, default `f32`.
        public var supportPrecision: SupportPrecision = .float32

        public init() {}
    }
}
