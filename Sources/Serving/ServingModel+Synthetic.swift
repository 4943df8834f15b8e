import ModelDescription
import ModelMath
import ParamServer
import TensorCore

extension ServingModel {
    /// The shape of an in-process model with random weights, for benchmarks and tests.
    ///
    /// Features: `user_id`, `item_id`, `category` (categorical, `d`-wide embeddings) and
    /// `price`, `popularity` (numeric, no normalisation): `D = 3·d + 2`. Labels: `taskCount`
    /// binary tasks `task0 …`. Towers `H → towerLayers → 1`.
    public struct SyntheticShape: Sendable, Equatable {
        public var embeddingDimension = 16
        public var experts = 4
        public var expertLayers = [64]
        public var towerLayers = [64]
        public var taskCount = 2
        /// Support rows kept per user (`S_max`).
        public var supportCapacity = 256
        public var seed: UInt64 = 7
        /// Meta-SGD rate multipliers `ρ`, drawn uniformly from [0.5, 1.5) as if learned.
        public var learnsInnerRates = false
        /// The support encoder (`model.support_encoder`), off by default.
        public var supportEncoder: ModelConfig.SupportEncoderSpec? = nil
        /// How the support store keeps the rows' meta-layer inputs (`serving.support_precision`).
        public var supportPrecision: SupportPrecision = .float32

        /// The reference serving config of issue 6: tower 64 → 64 → 1, 2 tasks, `H = 64`.
        public init() {}

        /// A small shape for tests (fast in debug builds): `D = 3·4 + 2 = 14`, 2 experts 14 → 8,
        /// towers 8 → 8 → 1, 2 binary tasks, `S_max = 32`.
        public static var small: SyntheticShape {
            var shape = SyntheticShape()
            shape.embeddingDimension = 4
            shape.experts = 2
            shape.expertLayers = [8]
            shape.towerLayers = [8]
            shape.supportCapacity = 32
            shape.seed = 5
            return shape
        }

        /// The model config of this shape (serving defaults: fine-tune, k = 3, α = 0.05).
        public var config: ModelConfig {
            var model = ModelConfig.Network()
            model.embeddingDimension = embeddingDimension
            model.experts = experts
            model.expertLayers = expertLayers
            model.towerLayers = towerLayers
            model.seed = seed
            model.supportEncoder = supportEncoder
            var support = ModelConfig.SupportStore()
            support.capacity = supportCapacity
            support.keepFloor = min(support.keepFloor, supportCapacity)
            support.maxTasks = 100_000
            var meta = ModelConfig.Meta()
            meta.learnInnerRates = learnsInnerRates
            var serving = ModelConfig.Serving()
            serving.supportPrecision = supportPrecision
            return ModelConfig(
                taskKey: "user_id", time: "timestamp",
                features: [
                    .init(name: "user_id", kind: .categorical),
                    .init(name: "item_id", kind: .categorical),
                    .init(name: "category", kind: .categorical),
                    .init(name: "price", kind: .numeric(normalization: .none)),
                    .init(name: "popularity", kind: .numeric(normalization: .none)),
                ],
                labels: (0..<taskCount).map { .init(name: "task\($0)", kind: .binary) },
                model: model, meta: meta, supportStore: support, serving: serving)
        }
    }

    /// A model of `shape` with seeded random weights, an empty support store and an embedding
    /// table that creates rows on first touch (call ``warmEmbeddings(items:users:)`` to create them).
    public static func synthetic(
        _ shape: SyntheticShape = SyntheticShape(), clock: any ParamServerClock = SystemClock()
    ) throws -> ServingModel {
        let config = shape.config
        let encoder = FeatureEncoder(unfittedConfig: config)
        var parameters = ModelParameters(spec: config.networkSpec, seed: shape.seed)
        var rng = SeededRandom(seed: shape.seed &+ 1)
        parameters.updateEachTensor { name, t in
            guard name.hasPrefix("inner_rates.") else { return }
            t = Tensor(shape: t.shape, scalars: (0..<t.count).map { _ in 0.5 + rng.nextUniform() })
        }
        let embeddings = try EmbeddingStore(config: EmbeddingStoreConfig(model: config), clock: clock)
        // A 16-hex-digit version, like a trained model's, so a written directory loads with the same support tag.
        let hex = String(0x5e_0000_0000 + shape.seed, radix: 16)
        let version = String(repeating: "0", count: 16 - hex.count) + hex
        let support = try SupportStore(config: SupportStoreConfig(model: config, modelVersion: UInt64(version, radix: 16)!,
                                                                  precision: config.serving.supportPrecision), clock: clock)
        return ServingModel(config: config, encoder: encoder, parameters: parameters, embeddings: embeddings,
                            support: support, modelVersion: version)
    }

    /// Creates embedding rows for items `0 ..< items`, their categories and users `0 ..< users`
    /// (as training would have), so serving reads non-zero rows.
    public func warmEmbeddings(items: Int, users: Int) {
        var keys: [UInt64] = []
        for i in 0..<items {
            keys.append(FeatureKey.hash(feature: "item_id", value: String(i)))
            keys.append(FeatureKey.hash(feature: "category", value: String(i % 50)))
        }
        for u in 0..<users { keys.append(FeatureKey.hash(feature: "user_id", value: "u\(u)")) }
        var rows = [Float](repeating: 0, count: keys.count * embeddings.dimension)
        keys.withUnsafeBufferPointer { k in
            rows.withUnsafeMutableBufferPointer { r in embeddings.pull(keys: k, into: r, create: true) }
        }
    }
}

/// Seeded request and event generators for the synthetic model (benchmarks and tests).
public struct SyntheticTraffic: Sendable {
    public var items: Int
    var rng: SeededRandom

    public init(items: Int = 10_000, seed: UInt64 = 11) {
        self.items = items
        rng = SeededRandom(seed: seed)
    }

    /// One candidate row: `item_id`, `category`, `price`, `popularity`.
    public mutating func candidate() -> [String: FeatureValue] {
        let item = Int(rng.next() % UInt64(items))
        return [
            "item_id": .string(String(item)),
            "category": .string(String(item % 50)),
            "price": .number(Double(item % 997) / 10),
            "popularity": .number(Double(rng.nextUniform())),
        ]
    }

    /// A score request of `candidates` rows for `user`.
    public mutating func request(user: String, candidates: Int) -> ScoreRequest {
        ScoreRequest(user: user, candidates: (0..<candidates).map { _ in candidate() })
    }

    /// `count` feedback events of `user` with random binary labels for `tasks` tasks.
    public mutating func events(user: String, count: Int, tasks: Int, startTime: Int64 = 1_700_000_000) -> EventsRequest {
        EventsRequest(events: (0..<count).map { i in
            var e = candidate()
            e["user"] = .string(user)
            e["timestamp"] = .integer(startTime + Int64(i))
            for t in 0..<tasks { e["task\(t)"] = .integer(Int64(rng.next() % 2)) }
            return e
        })
    }
}
