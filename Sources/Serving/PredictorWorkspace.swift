import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// Everything one thread needs to score a (merged) batch of requests, reused across batches
/// so that, once sized for the largest batch, scoring allocates nothing.
///
/// Shapes (`B` rows of all merged candidates, `C` one request's candidates, `S` its support
/// rows, `S_max` the store's capacity, `H` meta width, `K` tasks, `W = K·H`):
public struct PredictorWorkspace: Sendable {
    /// UTF-8 text written for one row (events) or one chunk of candidate rows, slot after slot.
    var rowBytes: [UInt8] = []
    /// Per slot: a number, or the range of its text in ``rowBytes``.
    var slots: [ColumnPlan.Slot] = []
    /// Row-form candidates of the request being encoded, as columns (reused).
    var rowColumns = CandidateColumns(count: 0)
    /// Per slot: the column of the request's ``CandidateColumns`` that sets it, or −1.
    var columnOfSlot: [Int] = []
    /// Per slot: its value where a candidate leaves it absent (context, user, missing), text in ``fixedBytes``.
    var fixedSlots: [ColumnPlan.Slot] = []
    var fixedBytes: [UInt8] = []
    /// Encoder fields of a chunk of candidate rows.
    var fields = FieldBuffer()
    /// Fields whose text is in ``rowBytes``: `(field index, start, end)` triples.
    var pendingText: [Int] = []
    /// The merged batch of every request's candidates (or a batch of events).
    var batch: EncodedBatch
    /// `R + 1` row offsets of each request in ``batch``.
    var rowOffsets: [Int] = []
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
    // Events scratch.
    var eventFeatures: [Float] = []       // (n, W)
    var eventTimes: [Timestamp] = []      // (n)

    init(model: ServingModel, columns: Int) {
        batch = model.encoder.makeBatch(reservingRows: 256)
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
        rowBytes.reserveCapacity(1024)
        slots = [ColumnPlan.Slot](repeating: .unset, count: columns)
        columnOfSlot = [Int](repeating: -1, count: columns)
        fixedSlots = [ColumnPlan.Slot](repeating: .unset, count: columns)
        fixedBytes.reserveCapacity(256)
        pendingText.reserveCapacity(3 * FieldBuffer.rows * columns)
        rowOffsets.reserveCapacity(128)
    }
}

extension PredictorWorkspace {
    /// The ``Models/FeatureEncoder/Field``s of up to ``rows`` candidate rows, reused across
    /// requests (the fields hold pointers that are only valid while one request is encoded).
    /// A workspace is used by one thread at a time, and so is its buffer (a copied workspace
    /// gets its own on first use: the predictor checks that it holds the only reference).
    final class FieldBuffer: @unchecked Sendable {
        /// Rows per chunk.
        static let rows = 64
        private var storage = UnsafeMutableBufferPointer<FeatureEncoder.Field>(start: nil, count: 0)

        /// Room for `rows × columns` fields (grown once).
        func buffer(rows: Int, columns: Int) -> UnsafeMutableBufferPointer<FeatureEncoder.Field> {
            let count = rows * columns
            if storage.count < count {
                storage.deallocate()
                storage = .allocate(capacity: count)
                storage.initialize(repeating: .integer(0))
            }
            return storage
        }

        deinit { storage.deallocate() }
    }
}
