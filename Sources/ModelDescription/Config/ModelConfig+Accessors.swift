import ModelMath

extension ModelConfig {
    /// The categorical input blocks (the model's `Fc` embedding lookups): the categorical
    /// features in config order, then, for each `scene_embedding: shared_and_private` one, its
    /// private block (the same name and column, ``SceneEmbedding/private``).
    public var categoricalFeatures: [Feature] {
        Self.withPrivateBlocks(features.filter { if case .categorical = $0.kind { true } else { false } })
    }

    /// The multi-categorical input blocks (`Fm` pooled lookups), ordered like
    /// ``categoricalFeatures``.
    public var multiCategoricalFeatures: [Feature] {
        Self.withPrivateBlocks(features.filter { if case .multiCategorical = $0.kind { true } else { false } })
    }

    /// `features` followed by a private copy of each `shared_and_private` one.
    private static func withPrivateBlocks(_ features: [Feature]) -> [Feature] {
        features + features.filter { $0.sceneEmbedding == .sharedAndPrivate }.map {
            Feature(name: $0.name, kind: $0.kind, sceneEmbedding: .private)
        }
    }

    /// The numeric features, in config order (`Fn` columns).
    public var numericFeatures: [Feature] {
        features.filter { if case .numeric = $0.kind { true } else { false } }
    }

    /// The scene column's index among ``categoricalFeatures`` (its slot `f` in an encoded batch's
    /// `categorical (B, Fc)` keys), or `nil` without a `scene` column.
    public var sceneCategoricalIndex: Int? {
        scene.flatMap { name in categoricalFeatures.firstIndex { $0.name == name } }
    }

    /// Number of tasks `K` (one per label).
    public var taskCount: Int { labels.count }

    /// Expert output width `H`: the last of `expert_layers` (MMoE) or of `shared_bottom_layers`.
    public var expertOutputWidth: Int {
        switch model.architecture {
        case .mmoe: model.expertLayers.last ?? 0
        case .sharedBottom: model.sharedBottomLayers.last ?? 0
        }
    }

    /// Concatenated input width `D = (Fc + Fm + P) · embedding_dim + Fn` (`P` support-encoder pools).
    public var inputWidth: Int {
        (categoricalFeatures.count + multiCategoricalFeatures.count + supportPoolCount) * model.embeddingDimension
            + numericFeatures.count
    }

    /// `P`: the support encoder's pooled blocks (0 when off).
    public var supportPoolCount: Int { model.supportEncoder?.pooling.count ?? 0 }

    /// The support encoder with its columns resolved (nil when off or when a name does not
    /// resolve; ``validate(source:)`` rejects the latter).
    public var supportEncoder: SupportEncoder? {
        guard let spec = model.supportEncoder,
              let source = categoricalFeatures.firstIndex(where: { $0.name == spec.source }) else { return nil }
        let label = spec.label.flatMap { name in labels.firstIndex { $0.name == name } }
        if spec.label != nil && label == nil { return nil }
        return SupportEncoder(pools: spec.pooling, sourceColumn: source, labelColumn: label, capacity: supportStore.capacity,
                              ownEmbeddings: spec.embedding == .own)
    }

    /// Width of one support-store row: `K·H` meta-layer inputs, plus the support encoder's
    /// source key as two floats' bit patterns (``SupportRowKey``) when the encoder is on.
    public var supportRowWidth: Int {
        taskCount * expertOutputWidth + (model.supportEncoder == nil ? 0 : SupportRowKey.width)
    }
}
