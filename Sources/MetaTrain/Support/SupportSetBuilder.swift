import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// Turns logged rows into per-task support sets: the meta-layer inputs `f_1 … f_K` of each
/// task's most recent rows, computed with a given model — what the support store holds
/// (`docs/DESIGN.md` §Parameter server) and what fine-tuned evaluation adapts on.
///
/// Keeps at most `capacity` rows per task (the newest by timestamp; file order breaks ties),
/// so memory is `tasks × capacity × (K·H + K)` floats whatever the log's size.
public struct SupportSetBuilder {
    public let capacity: Int
    public let taskCount: Int
    public let metaWidth: Int
    /// Per task: its kept rows.
    public private(set) var sets: [UInt64: SupportSet] = [:]
    private var sequence = 0

    /// One task's rows: `features` `(S, K·H)` row-major, `labels` `(S, K)`, timestamps `(S)`.
    public struct SupportSet: Sendable {
        public var features: [Float] = []
        public var labels: [Float] = []
        public var timestamps: [Int64] = []
        var order: [Int] = []
        public var count: Int { timestamps.count }
    }

    public init(capacity: Int, taskCount: Int, metaWidth: Int) {
        self.capacity = capacity
        self.taskCount = taskCount
        self.metaWidth = metaWidth
    }

    /// Adds the rows of a batch whose bottom was just run (`workspace.meta` holds `f_k`).
    public mutating func add(batch: EncodedBatch, workspace: NetworkWorkspace) {
        for r in 0..<batch.count {
            sequence += 1
            let (capacity, taskCount, h, sequence) = (capacity, taskCount, metaWidth, sequence)
            Self.insert(row: r, of: batch, workspace: workspace, sequence: sequence, capacity: capacity,
                        taskCount: taskCount, metaWidth: h, into: &sets[batch.taskKeys[r], default: SupportSet()])
        }
    }

    private static func insert(row r: Int, of batch: EncodedBatch, workspace: NetworkWorkspace, sequence: Int, capacity: Int,
                               taskCount: Int, metaWidth h: Int, into set: inout SupportSet) {
        let w = taskCount * h, time = batch.timestamps[r]
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
        set.timestamps[slot] = time
        set.order[slot] = sequence
    }

    /// Each task's rows sorted oldest first.
    public func sortedSets() -> [UInt64: SupportSet] {
        sets.mapValues { set in
            let idx = set.timestamps.indices.sorted { (set.timestamps[$0], set.order[$0]) < (set.timestamps[$1], set.order[$1]) }
            var out = SupportSet()
            let w = taskCount * metaWidth
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
                let w = taskCount * metaWidth
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
        table: any EmbeddingTable, capacity: Int
    ) throws -> SupportSetBuilder {
        var builder = SupportSetBuilder(capacity: capacity, taskCount: spec.taskCount, metaWidth: spec.metaWidth)
        var ws = NetworkWorkspace()
        while let batch = try stream.next() {
            MultiTaskNetwork.forwardBottom(parameters, spec: spec, layout: layout, batch: batch, table: table,
                                           createEmbeddings: false, workspace: &ws)
            builder.add(batch: batch, workspace: ws)
        }
        return builder
    }
}
