import ModelDescription
import ModelMath
import ParamServer
import Serving

/// A small synthetic model for the server tests (fast in debug builds); the same shape as
/// ServingTests' `Fixtures.smallShape` (test targets cannot share a helper file).
enum Fixtures {
    static var smallShape: ServingModel.SyntheticShape { .small }

    static func model(_ shape: ServingModel.SyntheticShape = smallShape, clock: any ParamServerClock = SystemClock()) throws -> ServingModel {
        let model = try ServingModel.synthetic(shape, clock: clock)
        model.warmEmbeddings(items: 500, users: 0)
        return model
    }
}
