import ModelMath

extension ModelConfig {
    /// The inner-loop policy of this model (the `meta` section's loss, adapted layers and head),
    /// with `steps` and `learningRate` of the caller: training's `meta.inner_steps`, serving's
    /// `serving.inner_steps`, or an evaluation's override. Training, evaluation and serving all
    /// build their ``Adaptation`` here, so they differ at most in steps and rate.
    public func adaptation(steps: Int, learningRate: Double) -> Adaptation {
        let loss: InnerLoss = switch meta.innerLoss {
        case .pointwise: .pointwise
        case .pairwise: .pairwise(pointwiseWeight: Float(meta.innerPointwiseWeight))
        case .listwise: .listwise(pointwiseWeight: Float(meta.innerPointwiseWeight))
        }
        let adapts: AdaptedLayers = switch meta.adaptLayers {
        case .all: .all
        case .hidden: .hidden
        case .output: .output
        }
        let head: HeadSolver = switch meta.headSolver {
        case .gradient: .gradient
        case .ridge:
            switch meta.headL2Scale {
            case .mean: .ridge(l2: Float(meta.headL2), scale: .mean)
            case .sum: .ridge(l2: Float(meta.headL2), scale: .sum)
            }
        case .offset: .offset
        }
        return Adaptation(steps: max(0, steps), learningRate: Float(learningRate), loss: loss, adapts: adapts, head: head)
    }

    /// The policy of training's inner loop (`meta.inner_steps`, `meta.inner_learning_rate`).
    public var trainingAdaptation: Adaptation {
        adaptation(steps: meta.innerSteps, learningRate: meta.innerLearningRate)
    }

    /// The policy of serving (`serving.inner_steps`, `serving.inner_learning_rate`).
    public var servingAdaptation: Adaptation {
        adaptation(steps: serving.innerSteps, learningRate: serving.innerLearningRate)
    }
}

extension ModelConfig {
    /// The serving fallback of each task (``ModelConfig/labels`` order): regression predictions
    /// checked against `labelRanges` (the manifest's, by task name) widened by
    /// `serving.fallback_label_margin`, updates bounded by `serving.fallback_max_weight_change`.
    public func adaptationGuards(labelRanges: [String: [Double]]?) -> [AdaptationGuard] {
        zip(labels, taskSpecs).map { label, task in
            let range: ClosedRange<Float>? = task.kind == .regression
                ? labelRanges?[label.name].flatMap { $0.count == 2 && $0[0] <= $0[1] ? Float($0[0])...Float($0[1]) : nil }
                : nil
            return AdaptationGuard(labelRange: range, margin: Float(serving.fallbackLabelMargin),
                                   maxRelativeChange: Float(serving.fallbackMaxWeightChange))
        }
    }
}
