import Foundation
import ModelDescription
import ModelMath
import ParamServer
import Serving
import TensorCore

/// Small synthetic models and traffic for the serving tests (fast in debug builds).
enum Fixtures {
    static var smallShape: ServingModel.SyntheticShape { .small }

    static func model(_ shape: ServingModel.SyntheticShape = smallShape, clock: any ParamServerClock = SystemClock()) throws -> ServingModel {
        let model = try ServingModel.synthetic(shape, clock: clock)
        model.warmEmbeddings(items: 500, users: 0)
        return model
    }

    /// A predictor adapting `steps` steps at `learningRate`. The random synthetic towers move more
    /// than their own norm at these rates, so the adaptation guards are off unless `guarded`
    /// (the fallback has its own tests).
    static func predictor(_ model: ServingModel, maxCandidates: Int = 1000, steps: Int = 3, learningRate: Float = 0.5,
                          minimumSupportRows: Int = 1, guarded: Bool = false, metrics: ServingMetrics = ServingMetrics()) -> Predictor {
        var settings = ServingSettings(model.config)
        settings.maxCandidates = maxCandidates
        settings.minimumSupportRows = minimumSupportRows
        settings.adaptation = Adaptation(steps: steps, learningRate: learningRate)
        if !guarded { settings.guards = [AdaptationGuard](repeating: .none, count: model.config.labels.count) }
        return Predictor(model: model, settings: settings, metrics: metrics)
    }

    /// Largest `|a − b| / max(|a|, |b|, 1e-6)` over two score lists of equal length.
    static func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "score counts differ: \(a.count) vs \(b.count)")
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            let d = x == y ? 0 : abs(x - y) / max(abs(x), abs(y), 1e-6)
            worst = max(worst, d.isNaN ? .infinity : d)
        }
        return worst
    }
}
