import ModelMath
import TensorCore

extension ModelConfig {
    /// The network shape the config describes.
    public var networkSpec: NetworkSpec {
        let rates = meta.enabled && meta.learnInnerRates
        return switch model.architecture {
        case .mmoe:
            NetworkSpec(architecture: .mmoe(experts: model.experts), inputWidth: inputWidth,
                        bottomWidths: model.expertLayers, towerWidths: model.towerLayers, taskCount: taskCount,
                        learnsInnerRates: rates)
        case .sharedBottom:
            NetworkSpec(architecture: .sharedBottom, inputWidth: inputWidth,
                        bottomWidths: model.sharedBottomLayers, towerWidths: model.towerLayers, taskCount: taskCount,
                        learnsInnerRates: rates)
        }
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
