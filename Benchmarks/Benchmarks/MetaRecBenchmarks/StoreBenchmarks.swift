import Benchmark
import ParamServer

/// `SupportStore.pull` at the serving case (as `metarec-bench store`): K = 2 tasks × H = 64 →
/// W = 128 floats and L = 2 labels per row, S_max = 64 rows, 4 096 full tasks pulled in a
/// scrambled order. 1 000 pulls per measured iteration (one pull is ≈ 1 µs).
final class SupportPullProblem {
    static let width = 128, labelWidth = 2, rows = 64, tasks = 4_096
    let store: SupportStore
    let order: [UInt64]
    let features: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Float>
    var next = 0

    init() throws {
        let (w, l, s) = (Self.width, Self.labelWidth, Self.rows)
        let store = try SupportStore(config: .init(rowWidth: w, labelWidth: l, capacity: s))
        var f = [Float](repeating: 0, count: w), y: [Float] = [0, 0]
        for t in 0..<Self.tasks {
            for r in 0..<s {
                f[0] = Float(t); f[w - 1] = Float(r); y[0] = Float(r)
                f.withUnsafeBufferPointer { fb in
                    y.withUnsafeBufferPointer { store.append(task: UInt64(t), features: fb, labels: $0, timestamp: .zero) }
                }
            }
        }
        self.store = store
        order = (0..<Self.tasks).map { UInt64(($0 &* 2_654_435_761) % Self.tasks) }
        features = .allocate(capacity: s * w)
        labels = .allocate(capacity: s * l)
    }

    deinit { features.deallocate(); labels.deallocate() }

    @discardableResult
    func pull() -> Int {
        let n = store.pull(task: order[next], features: features, labels: labels)
        next = next == order.count - 1 ? 0 : next + 1
        return n
    }

    /// Traps unless a task comes back as its 64 rows, oldest first.
    func validate() {
        let (w, l, s) = (Self.width, Self.labelWidth, Self.rows)
        let task = Int(order[next])
        let n = pull()
        precondition(n == s && features[0] == Float(task) && features[(s - 1) * w + w - 1] == Float(s - 1)
                     && labels[(s - 1) * l] == Float(s - 1), "SupportStore.pull returned wrong rows for task \(task) (S = \(n))")
    }
}

/// `EmbeddingStore.pull` of 512 distinct random keys out of 1 M rows, d = 16, with the serving
/// table's settings (Adagrad, one-day TTL); 64 prepared batches cycled.
final class EmbeddingPullProblem {
    static let dimension = 16, rows = 1_000_000, batch = 512
    let table: EmbeddingStore
    let batches: [[UInt64]]
    let out: UnsafeMutableBufferPointer<Float>
    var next = 0

    init() throws {
        let (d, n) = (Self.dimension, Self.rows)
        let table = try EmbeddingStore(config: .init(
            dimension: d, initializer: .uniform(bound: 0.01, seed: 1), expiry: .timeToLive(.seconds(86_400)),
            optimizer: .adagrad(learningRate: 0.05, initialAccumulator: 0.1, epsilon: 1e-8)))
        let keys = (0..<n).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
        var rows = [Float](repeating: 0, count: 65_536 * d)
        for chunk in stride(from: 0, to: n, by: 65_536) {
            keys[chunk..<min(n, chunk + 65_536)].withUnsafeBufferPointer { k in
                rows.withUnsafeMutableBufferPointer { table.pull(keys: k, into: $0, create: true) }
            }
        }
        self.table = table
        precondition(table.rowCount == n, "EmbeddingStore holds \(table.rowCount) rows, expected \(n)")
        var state: UInt64 = 42
        batches = (0..<64).map { _ in
            var seen = Set<Int>(), batch: [UInt64] = []
            while batch.count < Self.batch {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let i = Int((state >> 33) % UInt64(n))
                if seen.insert(i).inserted { batch.append(keys[i]) }
            }
            return batch
        }
        out = .allocate(capacity: Self.batch * d)
    }

    deinit { out.deallocate() }

    func pull() {
        batches[next].withUnsafeBufferPointer { table.pull(keys: $0, into: out, create: true) }
        next = next == batches.count - 1 ? 0 : next + 1
    }

    /// Traps unless pulled rows equal a fresh table's rows from the same deterministic initialiser.
    func validate() throws {
        let reference = try EmbeddingStore(config: .init(dimension: Self.dimension, initializer: .uniform(bound: 0.01, seed: 1)))
        var expected = [Float](repeating: 0, count: Self.batch * Self.dimension)
        batches[next].withUnsafeBufferPointer { k in expected.withUnsafeMutableBufferPointer { reference.pull(keys: k, into: $0, create: true) } }
        pull()
        precondition(Array(out) == expected, "EmbeddingStore.pull does not match the deterministic initialiser")
    }
}

func storeBenchmarks() {
    let support = Fixture<SupportPullProblem>()
    Benchmark(
        "SupportStore.pull-64-rows",
        configuration: .init(timeUnits: .nanoseconds, scalingFactor: .kilo, setup: {
            let p = try SupportPullProblem()
            p.validate()
            support.value = p
        }, teardown: { support.value = nil })
    ) { benchmark in
        let p = support.unwrapped
        for _ in benchmark.scaledIterations { p.pull() }
        blackHole(p.features[0])
    }

    let embedding = Fixture<EmbeddingPullProblem>()
    Benchmark(
        "EmbeddingStore.pull-512-keys",
        configuration: .init(setup: {
            let p = try EmbeddingPullProblem()
            try p.validate()
            embedding.value = p
        }, teardown: { embedding.value = nil })
    ) { benchmark in
        let p = embedding.unwrapped
        for _ in benchmark.scaledIterations { p.pull() }
        blackHole(p.out[0])
    }
}
