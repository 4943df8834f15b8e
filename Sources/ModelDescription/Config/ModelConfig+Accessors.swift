import ModelMath

extension ModelConfig {
    /// The categorical features, in config order (the model's `Fc` embedding lookups).
    public var categoricalFeatures: [Feature] {
        features.filter { if case .categorical = $0.kind { true } else { false } }
    }

    /// The multi-categorical features, in config order (`Fm` pooled lookups).
    public var multiCategoricalFeatures: [Feature] {
        features.filter { if case .multiCategorical = $0.kind { true } else { false } }
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

    /// Concatenated input width `D = (Fc + Fm) · embedding_dim + Fn`.
    public var inputWidth: Int {
        (categoricalFeatures.count + multiCategoricalFeatures.count) * model.embeddingDimension
            + numericFeatures.count
    }
}
