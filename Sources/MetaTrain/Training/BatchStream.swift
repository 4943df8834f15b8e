import ModelDescription
import ModelMath
import TensorCore

/// A pass over training or evaluation data as a sequence of encoded batches.
/// Errors (a malformed row) are thrown from ``next()``.
///
/// Threading: ``Trainer`` calls `next()` on one of its worker-pool helpers while the caller's
/// thread applies the previous step's update (Adam, the embedding push), never from two
/// threads at once. A stream must therefore not be bound to one thread, nor touch the
/// model's embedding table.
public protocol BatchStream {
    /// The next batch, or nil at the end of the pass.
    mutating func next() throws -> EncodedBatch?
}

/// What the shuffle buffer permutes.
public enum ShuffleUnit: Sendable, Equatable {
    /// Individual rows: i.i.d.-like batches (plain training).
    case rows
    /// Task chunks: the buffer's rows are grouped by task key (in file, i.e. time, order) and
    /// cut into chunks of `chunkRows` consecutive rows (0 = whole tasks); the chunks are
    /// permuted. A batch then holds many tasks with several rows each — what in-batch MAML
    /// task formation needs (with row shuffling, a batch of 512 over thousands of users has
    /// almost no user with enough rows to split).
    case tasks(chunkRows: Int)
}

/// Re-batches a stream through a shuffle buffer: fill up to `bufferRows` rows, permute them
/// (rows or task groups) with a seeded RNG, emit mini-batches of `batchSize`, repeat. A
/// "block shuffle": rows only move within a buffer's worth, so memory stays bounded for any
/// file size.
public struct ShuffledBatches<Source: BatchStream>: BatchStream {
    private var source: Source
    private let batchSize: Int
    private let bufferRows: Int
    private var rng: SeededRandom
    private var buffer: EncodedBatch?
    private var order: [Int] = []
    private var cursor = 0
    private var exhausted = false
    private let shuffles: Bool
    private let unit: ShuffleUnit

    /// - Parameter bufferRows: 0 disables shuffling (batches keep file order).
    public init(_ source: Source, batchSize: Int, bufferRows: Int, seed: UInt64, unit: ShuffleUnit = .rows) {
        precondition(batchSize >= 1, "ShuffledBatches: batch size \(batchSize)")
        self.source = source
        self.batchSize = batchSize
        self.bufferRows = max(bufferRows, batchSize)
        self.rng = SeededRandom(seed: seed)
        self.shuffles = bufferRows > 0
        self.unit = unit
    }

    public mutating func next() throws -> EncodedBatch? {
        if cursor >= order.count {
            try refill()
            if order.isEmpty { return nil }
        }
        let end = min(cursor + batchSize, order.count)
        let batch = buffer!.selecting(rows: order[cursor..<end])
        cursor = end
        return batch
    }

    private mutating func refill() throws {
        order = []
        cursor = 0
        guard !exhausted else { return }
        var filled: EncodedBatch? = nil
        while (filled?.count ?? 0) < bufferRows, let chunk = try source.next() {
            if filled == nil { filled = chunk } else { filled!.append(contentsOf: chunk) }
        }
        guard let rows = filled, rows.count > 0 else {
            exhausted = true
            return
        }
        if rows.count < bufferRows { exhausted = true }
        buffer = rows
        order = Array(0..<rows.count)
        guard shuffles else { return }
        switch unit {
        case .rows:
            order.shuffle(using: &rng)
        case .tasks(let chunkRows):
            var groups: [UInt64: [Int]] = [:]
            var keys: [UInt64] = []
            for r in 0..<rows.count {
                let key = rows.taskKeys[r]
                if groups[key] == nil { keys.append(key) }
                groups[key, default: []].append(r)
            }
            var chunks: [ArraySlice<Int>] = []
            for key in keys {
                let members = groups[key]!
                let size = chunkRows > 0 ? chunkRows : members.count
                for start in stride(from: 0, to: members.count, by: size) {
                    chunks.append(members[start..<min(start + size, members.count)])
                }
            }
            chunks.shuffle(using: &rng)
            order = chunks.flatMap { $0 }
        }
    }
}
