import ModelMath
import TensorCore

extension ModelConfig {
    /// The network shape the config describes.
    public var networkSpec: NetworkSpec {
        let rates = meta.enabled && meta.learnInnerRates
        return switch model.architecture {
        case .mmoe:
            NetworkSpec(architecture: .mmoe(experts: expertCount), inputWidth: inputWidth,
                        bottomWidths: model.expertLayers, towerWidths: model.towerLayers, taskCount: taskCount,
                        learnsInnerRates: rates, sceneExperts: sceneExperts, starTowers: starTowers, partitionedNorm: partitionedNorm)
        case .sharedBottom:
            NetworkSpec(architecture: .sharedBottom, inputWidth: inputWidth,
                        bottomWidths: model.sharedBottomLayers, towerWidths: model.towerLayers, taskCount: taskCount,
                        learnsInnerRates: rates, starTowers: starTowers, partitionedNorm: partitionedNorm)
        }
    }

    /// `E`: the shared experts plus each scene's (MMoE).
    public var expertCount: Int {
        model.experts + (model.sceneExperts.map { $0.scenes.count * $0.perScene } ?? 0)
    }

    /// The gates' scene masks (``ModelMath/SceneExperts``), or nil without `model.scene_experts`.
    /// Scene `s` is `model.scene_experts.scenes[s]`, keyed like the `scene` column's values.
    public var sceneExperts: SceneExperts? {
        guard let spec = model.sceneExperts, let scene, let column = sceneCategoricalIndex else { return nil }
        return SceneExperts(column: column, sceneKeys: spec.scenes.map { FeatureKey.hash(feature: scene, value: $0) },
                            shared: model.experts, perScene: spec.perScene, gates: spec.gates == .perScene ? .perScene : .shared)
    }

    /// The STAR towers' scene map (``ModelMath/StarTowers``), or nil without `model.star_towers`.
    /// Scene `s` is `model.star_towers.scenes[s]`, keyed like the `scene` column's values.
    public var starTowers: StarTowers? {
        guard let spec = model.starTowers, let scene, let column = sceneCategoricalIndex else { return nil }
        return StarTowers(column: column, sceneKeys: spec.scenes.map { FeatureKey.hash(feature: scene, value: $0) })
    }

    /// The partitioned normalisation's scene map and settings (``ModelMath/PartitionedNormalization``),
    /// or nil without `model.partitioned_norm`. Scene `s` is `model.partitioned_norm.scenes[s]`.
    public var partitionedNorm: PartitionedNormalization? {
        guard let spec = model.partitionedNorm, let scene, let column = sceneCategoricalIndex else { return nil }
        return PartitionedNormalization(column: column, sceneKeys: spec.scenes.map { FeatureKey.hash(feature: scene, value: $0) },
                                        momentum: Float(spec.momentum), epsilon: Float(spec.epsilon),
                                        minimumBatchRows: spec.minimumBatchRows)
    }

    /// How encoded batches become the network input.
    public var inputLayout: InputLayout {
        var layout = InputLayout(
            categoricalCount: categoricalFeatures.count,
            multiCategoricalPooling: multiCategoricalFeatures.map { feature in
                if case .multiCategorical(_, let pooling) = feature.kind, pooling == .sum { return .sum }
                return .mean
            } + Array(repeating: .weighted, count: supportPoolCount),
            numericCount: numericFeatures.count,
            embeddingDimension: model.embeddingDimension)
        if model.supportEncoder?.stopGradient == true {
            let fm = multiCategoricalFeatures.count
            layout.stopsGradient = Set(fm..<(fm + supportPoolCount))
        }
        return layout
    }

    /// One ``TaskSpec`` per label, in config order.
    public var taskSpecs: [TaskSpec] {
        labels.map { TaskSpec(name: $0.name, kind: $0.kind == .binary ? .binary : .regression, weight: Float($0.weight)) }
    }
}
