import Models
import ParamServer
import Serving

/// A small synthetic model for the server tests (fast in debug builds); the same shape as
/// ServingTests' `Fixtures.smallShape` (test targets cannot share a helper file).
enum Fixtures {
    /// `D = 3·4 + 2 = 14`, 2 experts 14 → 8, towers 8 → 8 → 1, 2 binary tasks, `S_max = 32`.
    static var smallShape: ServingModel.SyntheticShape {
        var shape = ServingModel.SyntheticShape()
        shape.embeddingDimension = 4
        shape.experts = 2
        shape.expertLayers = [8]
        shape.towerLayers = [8]
        shape.supportCapacity = 32
        shape.seed = 5
        return shape
    }

    static func model(_ shape: ServingModel.SyntheticShape = smallShape, clock: any ParamServerClock = SystemClock()) throws -> ServingModel {
        let model = try ServingModel.synthetic(shape, clock: clock)
        model.warmEmbeddings(items: 500, users: 0)
        return model
    }
}
