import Testing
@testable import ParamServer

/// Run by CI under `swift test --sanitize=thread` as well.
@Suite struct ConcurrencyStressTests {
    static let workers = 4

    @Test func `concurrent appends are never lost and pulls are never torn`() async throws {
        let store = try SupportStore(config: .init(rowWidth: 16, labelWidth: 2, capacity: 8, shardCount: 4))
        let tasks = 24, perWorker = 600
        let torn = await withTaskGroup(of: Int.self) { group in
            for w in 0..<Self.workers {
                group.addTask {
                    var f = [Float](repeating: 0, count: 8 * 16), l = [Float](repeating: 0, count: 8 * 2)
                    var torn = 0
                    for i in 0..<perWorker {
                        let task = UInt64((i * 7 + w) % tasks)
                        let v = Float(w * 1_000_000 + i)
                        appendRow(store, task: task, features: [Float](repeating: v, count: 16), labels: [v, -v])
                        let n = f.withUnsafeMutableBufferPointer { fb in
                            l.withUnsafeMutableBufferPointer { store.pull(task: UInt64((i + w) % tasks), features: fb, labels: $0) }
                        }
                        for r in 0..<n {
                            let x = f[r * 16]
                            if f[r * 16..<(r + 1) * 16].contains(where: { $0 != x }) || l[r * 2] != x || l[r * 2 + 1] != -x {
                                torn += 1
                            }
                        }
                    }
                    return torn
                }
            }
            return await group.reduce(0, +)
        }
        #expect(torn == 0)
        let stats = store.statistics
        #expect(stats.rowsAppended == Self.workers * perWorker)
        #expect(stats.tasks == tasks && stats.rows == tasks * 8)
        #expect(store.count == tasks)
    }

    @Test func `concurrent pulls and pushes keep every update`() async throws {
        let table = try EmbeddingStore(config: .init(dimension: 8, shardCount: 8, initializer: .zeros,
                                                      optimizer: .sgd(learningRate: 1)))
        let keys = (0..<64).map { UInt64($0) * 0x9E37 }
        _ = pullRows(table, keys, create: true)
        let rounds = 300
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<Self.workers {
                group.addTask {
                    // Each worker owns a disjoint quarter of the keys' pushes but reads all of them.
                    let mine = keys.enumerated().filter { $0.offset % Self.workers == w }.map(\.element)
                    let gradient = [Float](repeating: -1, count: mine.count * 8)
                    for _ in 0..<rounds {
                        pushGradients(table, mine, gradient)
                        let rows = pullRows(table, keys, create: true)
                        for k in 0..<keys.count where rows[k * 8..<(k + 1) * 8].contains(where: { $0 != rows[k * 8] }) {
                            Issue.record("torn row for key \(keys[k])")
                        }
                    }
                }
            }
        }
        let rows = pullRows(table, keys, create: false)
        #expect(rows.allSatisfy { $0 == Float(rounds) })
        #expect(table.rowCount == keys.count)
    }

    @Test func `concurrent sweeps, appends and evictions keep the counters consistent`() async throws {
        let clock = ManualClock(start: .seconds(1_000))
        let store = try SupportStore(config: .init(rowWidth: 4, labelWidth: 1, capacity: 4, expiry: .timeToLive(.seconds(5)),
                                                   memoryBound: .tasks(40), shardCount: 4), clock: clock)
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<Self.workers {
                group.addTask {
                    for i in 0..<500 {
                        if w == 0 && i % 10 == 0 { clock.advance(by: .seconds(1)); store.sweep() }
                        appendRow(store, task: UInt64((i * 13 + w) % 100), features: [1, 2, 3, 4], labels: [1])
                    }
                }
            }
        }
        store.sweep()
        let stats = store.statistics
        #expect(stats.tasks == store.count)
        #expect(stats.tasks <= 40 + Self.workers)
    }
}
