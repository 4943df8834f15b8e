import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// Turns logged rows into per-task support sets: the meta-layer inputs `f_1 … f_K` of each
/// task's most recent rows, computed with a given model — what the support store holds
/// (`docs/DESIGN.md` §Parameter server) and what fine-tuned evaluation adapts on.
///
/// Keeps at most `capacity` rows per task (the newest by timestamp; file order breaks ties),
/// so memory is `tasks × capacity × (W + K)` floats whatever the log's size. A row is
/// `W = K·H` floats, or `K·H + 2` with a `keyColumn` (the support encoder's source key after
/// the meta-layer inputs, ``SupportRowKey``).
public struct SupportSetBuilder {
    public let capacity: Int
    public let taskCount: Int
    public let metaWidth: Int
    /// The categorical column whose key each row stores (the support encoder's source), or nil.
    public let keyColumn: Int?
    /// `W`.
    public var rowWidth: Int { taskCount * metaWidth + (keyColumn == nil ? 0 : SupportRowKey.width) }
    /// Per task: its kept rows.
    public private(set) var sets: [UInt64: SupportSet] = [:]
    private var sequence = 0

    /// One task's rows: `features` `(S, W)` row-major, `labels` `(S, K)`, timestamps `(S)`.
    public struct SupportSet: Sendable {
        public var features: [Float] = []
        public var labels: [Float] = []
        public var timestamps: [Int64] = []
        var order: [Int] = []
        public var count: Int { timestamps.count }
    }

    public init(capacity: Int, taskCount: Int, metaWidth: Int, keyColumn: Int? = nil) {
        self.capacity = capacity
        self.taskCount = taskCount
        self.metaWidth = metaWidth
        self.keyColumn = keyColumn
    }

    /// Adds the rows of a batch whose bottom was just run (`workspace.meta` holds `f_k`).
    public mutating func add(batch: EncodedBatch, workspace: NetworkWorkspace) {
        for r in 0..<batch.count {
            sequence += 1
            let (capacity, taskCount, h, sequence, keyColumn) = (capacity, taskCount, metaWidth, sequence, keyColumn)
            Self.insert(row: r, of: batch, workspace: workspace, sequence: sequence, capacity: capacity,
                        taskCount: taskCount, metaWidth: h, keyColumn: keyColumn, into: &sets[batch.taskKeys[r], default: SupportSet()])
        }
    }

    private static func insert(row r: Int, of batch: EncodedBatch, workspace: NetworkWorkspace, sequence: Int, capacity: Int,
                               taskCount: Int, metaWidth h: Int, keyColumn: Int?, into set: inout SupportSet) {
        let w = taskCount * h + (keyColumn == nil ? 0 : SupportRowKey.width), time = batch.timestamps[r]
        var slot = set.count
        if set.count == capacity {
            // Replace the oldest row if this one is newer.
            var oldest = 0
            for i in 1..<set.count where (set.timestamps[i], set.order[i]) < (set.timestamps[oldest], set.order[oldest]) { oldest = i }
            guard (time, sequence) > (set.timestamps[oldest], set.order[oldest]) else { return }
            slot = oldest
        } else {
            set.features.append(contentsOf: repeatElement(0, count: w))
            set.labels.append(contentsOf: repeatElement(0, count: taskCount))
            set.timestamps.append(0)
            set.order.append(0)
        }
        for k in 0..<taskCount {
            workspace.meta[k].withUnsafeBufferPointer { f in
                for j in 0..<h { set.features[slot * w + k * h + j] = f[r * h + j] }
            }
            set.labels[slot * taskCount + k] = batch.label(row: r, task: k)
        }
        if let keyColumn {
            let key = batch.categorical[r * batch.categoricalWidth + keyColumn]
            set.features.withUnsafeMutableBufferPointer { SupportRowKey.write(key, to: $0.baseAddress! + slot * w + taskCount * h) }
        }
        set.timestamps[slot] = time
        set.order[slot] = sequence
    }

    /// Each task's rows sorted oldest first.
    public func sortedSets() -> [UInt64: SupportSet] {
        sets.mapValues { set in
            let idx = set.timestamps.indices.sorted { (set.timestamps[$0], set.order[$0]) < (set.timestamps[$1], set.order[$1]) }
            var out = SupportSet()
            let w = rowWidth
            for i in idx {
                out.features += set.features[(i * w)..<((i + 1) * w)]
                out.labels += set.labels[(i * taskCount)..<((i + 1) * taskCount)]
                out.timestamps.append(set.timestamps[i])
                out.order.append(set.order[i])
            }
            return out
        }
    }

    /// Appends every task's rows, oldest first, to `store`.
    public func write(to store: SupportStore) {
        for (key, set) in sortedSets() {
            for i in 0..<set.count {
                let w = rowWidth
                set.features.withUnsafeBufferPointer { f in
                    set.labels.withUnsafeBufferPointer { l in
                        store.append(task: key, features: UnsafeBufferPointer(rebasing: f[(i * w)..<((i + 1) * w)]),
                                     labels: UnsafeBufferPointer(rebasing: l[(i * taskCount)..<((i + 1) * taskCount)]),
                                     timestamp: .seconds(set.timestamps[i]))
                    }
                }
            }
        }
    }

    /// Builds the support sets of every task in `stream` with the model `parameters`.
    public static func build(
        from stream: inout some BatchStream, parameters: ModelParameters, spec: NetworkSpec, layout: InputLayout,
        table: any EmbeddingTable, capacity: Int, keyColumn: Int? = nil
    ) throws -> SupportSetBuilder {
        var builder = SupportSetBuilder(capacity: capacity, taskCount: spec.taskCount, metaWidth: spec.metaWidth, keyColumn: keyColumn)
        var ws = NetworkWorkspace()
        while let batch = try stream.next() {
            MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: layout, batch: batch, table: table,
                                           createEmbeddings: false, workspace: &ws)
            builder.add(batch: batch, workspace: ws)
        }
        return builder
    }
}
