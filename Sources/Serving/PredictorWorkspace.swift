import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// Everything one thread needs to score a (merged) batch of requests, reused across batches
/// so that, once sized for the largest batch, scoring allocates nothing.
///
/// Shapes (`B` rows of all merged candidates, `C` one request's candidates, `S` its support
/// rows, `S_max` the store's capacity, `H` meta width, `K` tasks, `W = K·H`):
package struct PredictorWorkspace: Sendable {
    /// Row-form candidates of the request being encoded, as columns (reused).
    var rowColumns = CandidateColumns(count: 0)
    /// The candidate encoder's buffers.
    var candidates: CandidateEncoder.Scratch
    /// One event's values, feature by feature, text in ``eventText`` (``Predictor/record(events:)``).
    var eventValues: [FeatureSchema.TypedValue] = []
    var eventText: [UInt8] = []
    /// The merged batch of every request's candidates (or a batch of events).
    var batch: EncodedBatch
    /// `R + 1` row offsets of each request in ``batch``.
    var rowOffsets: [Int] = []
    /// `R` support-store keys of the requests in ``batch`` (support encoder only).
    var rowTasks: [UInt64] = []
    var network = NetworkWorkspace()
    var supportFeatures: [Float]          // (S_max, W)
    var supportLabels: [Float]            // (S_max, K)
    /// Per task: the fast weights θ'_k of the request being scored (overwritten per request).
    var fast: [Tower]
    /// The inner loop's buffers, `S` rows.
    var tower = TowerWorkspace()
    /// Scoring's buffers, `C` rows: apart from ``tower`` so neither is resized when a request
    /// alternates between its `S` support and `C` candidate rows.
    var scoring = TowerWorkspace()
    /// A shared store's rows for the batch's distinct users, pulled in one round trip
    /// (``Predictor/prefetchSupport(_:failed:workspace:)``); empty for the in-process store.
    var prefetched = PrefetchedSupport()
    // Events scratch.
    var eventFeatures: [Float] = []       // (n, W)
    var eventTimes: [Timestamp] = []      // (n)

    init(model: ServingModel, features: Int) {
        batch = model.encoder.makeBatch(reservingRows: 256)
        candidates = CandidateEncoder.Scratch(features: features)
        let w = model.support.config.rowWidth, k = model.config.taskCount, cap = model.support.config.capacity
        supportFeatures = [Float](repeating: 0, count: cap * w)
        supportLabels = [Float](repeating: 0, count: cap * k)
        fast = model.parameters.towers.indices.map { t in
            // Fresh storage, not a CoW share of the base tower: the first in-place write must not copy.
            let tower = model.parameters.towers[t]
            let fresh = MLPParameters(layers: tower.layers.map {
                DenseLayer(weight: Tensor(shape: $0.weight.shape, scalars: Array($0.weight.scalars)),
                           bias: Tensor(shape: $0.bias.shape, scalars: Array($0.bias.scalars)))
            })
            return Tower(parameters: fresh, rates: model.parameters.innerRates(ofTask: t),
                         kind: model.config.taskSpecs[t].kind, activation: model.config.networkSpec.activation)
        }
        eventValues = [FeatureSchema.TypedValue](repeating: .unset, count: features)
        eventText.reserveCapacity(1024)
        rowOffsets.reserveCapacity(128)
    }
}
