import ArgumentParser
import ModelDescription

/// Command-line overrides of a model's inner-loop policy (its `meta` section's inner loss,
/// adapted layers and head), for evaluating another policy on a trained model.
struct AdaptationOverrides: ParsableArguments {
    @Option(help: "Inner loss: pointwise | pairwise | listwise (default: the model's meta.inner_loss).")
    var innerLoss: ModelConfig.InnerLossName?
    @Option(help: "Weight of the pointwise term added to a ranking inner loss (default: the model's meta.inner_pointwise_weight).")
    var pointwiseWeight: Double?
    @Option(help: "Tower layers the inner steps move: all | hidden | output (default: the model's meta.adapt_layers).")
    var adaptLayers: ModelConfig.AdaptLayersName?
    @Option(help: "Head solver: gradient | ridge | offset (default: the model's meta.head_solver).")
    var headSolver: ModelConfig.HeadSolverName?
    @Option(help: "λ of the ridge head (default: the model's meta.head_l2).")
    var headL2: Double?
    @Option(help: "What --head-l2 is weighed against: mean (the mean support loss) | sum (the summed loss, as MF's fold-in) (default: the model's meta.head_l2_scale).")
    var headL2Scale: ModelConfig.HeadL2ScaleName?

    func validate() throws {
        if let pointwiseWeight, !(pointwiseWeight >= 0 && pointwiseWeight.isFinite) {
            throw ValidationError("--pointwise-weight must be finite and >= 0")
        }
        if let headL2, !(headL2 > 0 && headL2.isFinite) { throw ValidationError("--head-l2 must be finite and > 0") }
    }

    /// `config` with the overridden `meta` fields.
    func applied(to config: ModelConfig) -> ModelConfig {
        var config = config
        if let innerLoss { config.meta.innerLoss = innerLoss }
        if let pointwiseWeight { config.meta.innerPointwiseWeight = pointwiseWeight }
        if let adaptLayers { config.meta.adaptLayers = adaptLayers }
        if let headSolver { config.meta.headSolver = headSolver }
        if let headL2 { config.meta.headL2 = headL2 }
        if let headL2Scale { config.meta.headL2Scale = headL2Scale }
        return config
    }
}

extension ModelConfig.InnerLossName: ExpressibleByArgument {}
extension ModelConfig.AdaptLayersName: ExpressibleByArgument {}
extension ModelConfig.HeadSolverName: ExpressibleByArgument {}
extension ModelConfig.HeadL2ScaleName: ExpressibleByArgument {}
