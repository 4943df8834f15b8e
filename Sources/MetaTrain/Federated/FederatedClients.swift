import ModelDescription
import ModelMath
import TensorCore

/// The clients of a federated simulation read from a CSV log: one client per task key (user),
/// holding its rows as a device would — the meta-layer inputs `f_1 … f_K` computed once by the
/// model's fixed bottom, and the labels — and the newest rows per client that the published
/// model's support store keeps (the rows on-device fine-tuning adapts on).
public struct FederatedClients {
    /// Sorted by task key, oldest row first: `features` `(n, K·H)`, `labels` `(n, K)`.
    public var clients: [FederatedAveraging.ClientRows]
    /// At most `support_store.capacity` newest rows per client (the same meta-layer inputs).
    public var support: SupportSetBuilder
    /// Rows read.
    public var rows: Int

    /// Reads `path` with `model`'s encoder and bottom (no embedding rows are created: a key
    /// unseen by the model reads as the default row, as at serving).
    public static func read(path: String, model: LoadedModel, options: CSVReadOptions) throws -> FederatedClients {
        let spec = model.config.networkSpec, layout = model.config.inputLayout
        var all = SupportSetBuilder(capacity: Int.max, taskCount: spec.taskCount, metaWidth: spec.metaWidth)
        var newest = SupportSetBuilder(capacity: model.config.supportStore.capacity, taskCount: spec.taskCount,
                                       metaWidth: spec.metaWidth)
        var stream = try CSVBatchStream(path: path, encoder: model.encoder, options: options, chunkRows: 4096)
        var ws = NetworkWorkspace()
        var rows = 0
        while let batch = try stream.next() {
            MultiTaskNetwork.forwardBottom(model.parameters, spec: spec, layout: layout, batch: batch, table: model.embeddings,
                                           createEmbeddings: false, workspace: &ws)
            all.add(batch: batch, workspace: ws)
            newest.add(batch: batch, workspace: ws)
            rows += batch.count
        }
        let sets = all.sortedSets()
        let clients = sets.keys.sorted().map { key in
            let set = sets[key]!
            return FederatedAveraging.ClientRows(key: key, features: set.features, labels: set.labels, count: set.count)
        }
        return FederatedClients(clients: clients, support: newest, rows: rows)
    }

    /// Metrics of `towers` over every client's rows (AUC/logloss for binary tasks, RMSE/MAE for
    /// regression; unlabelled cells skipped, as in evaluation).
    public static func metrics(of towers: [Tower], on clients: [FederatedAveraging.ClientRows]) -> [TaskMetrics] {
        var accumulators = towers.map { TaskMetricsAccumulator(kind: $0.kind) }
        var ws = TowerWorkspace()
        var scores: [Float] = []
        let kk = towers.count
        guard let h = towers.first?.parameters.inputWidth else { return [] }
        for client in clients where client.count > 0 {
            for k in towers.indices {
                let f = FineTunedEvaluation.column(block: k, width: h, of: client.features[...], rows: client.count, rowWidth: kk * h)
                towers[k].predictions(f, into: &scores, workspace: &ws)
                for r in 0..<client.count {
                    accumulators[k].add(prediction: scores[r], label: client.labels[r * kk + k])
                }
            }
        }
        return accumulators.map { $0.result() }
    }
}
