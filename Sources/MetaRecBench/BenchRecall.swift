import ArgumentParser
import Foundation
import Retrieval
import TensorCore

/// `metarec-bench recall`: the recall stage of `POST /v1/recommend` in process, one thread, thread
/// CPU time: ``Retrieval/CatalogueRecall`` over a retrieval model directory (user tower over a
/// history of `--history` random rows, then the exact top-`n` of the whole index), so the share
/// of a recommendation spent in recall can be set against the HTTP latency of the same request
/// (`scripts/recommend-load.sh`).
///
/// ```
/// per call: history = `history` rows drawn from 0 ..< N (seeded, a different one per call)
///           recall(history, excluding: history, n)      median / p10 / p90 of `runs` calls
/// ```
struct BenchRecall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recall",
        abstract: "The recall of POST /v1/recommend in process: user tower + exact top-n over the index, thread CPU time.")

    @Option(help: "Retrieval model directory (metarec retrieval train|synthetic).") var retrieval: String
    @Option(help: "History rows per call.") var history = 20
    @Option(help: "Items recalled, n.") var n = 200
    @Option(help: "Timed calls.") var runs = 2000

    func run() async throws {
        let model = try RetrievalModelFiles.read(retrieval)
        let items = model.index.count
        guard items > 0, history >= 0, n > 0, runs > 0 else { throw ValidationError("need a non-empty index and positive --n, --runs") }
        var rng = SeededRandom(seed: 3)
        let histories = (0..<64).map { _ in (0..<history).map { _ in Int32(rng.next() % UInt64(items)) } }
        var out: [(row: Int32, score: Float)] = []
        for precision in [CatalogueScan.Precision.int8, .float32] {
            var recall = CatalogueRecall(model: model, precision: precision)
            var rescored = 0, fellBack = 0
            for h in histories {
                recall.recall(history: h, excluding: h, n: n, into: &out)
                rescored += recall.lastSearchWork.rescored
                fellBack += recall.lastSearchWork.fellBack ? 1 : 0
            }
            let times = (0..<runs).map { r in
                MachinePeak.seconds(.threadCPUTime) { recall.recall(history: histories[r % 64], excluding: histories[r % 64], n: n, into: &out) }
            }.sorted()
            var scan = CatalogueScan(items: model.index.embeddings, precision: precision)
            let queries = histories.map { h -> Tensor in recall.recall(history: h, excluding: h, n: n, into: &out); return recall.lastQuery }
            let searchTimes = (0..<runs).map { r in
                MachinePeak.seconds(.threadCPUTime) { scan.search(query: queries[r % 64], k: n, excluding: histories[r % 64]) }
            }.sorted()
            print(String(format: "  of which the search alone (%@ scan, top-%d): median %.1f µs [p10 %.1f – p90 %.1f]", "\(precision)" as NSString, n,
                         1e6 * searchTimes[runs / 2], 1e6 * searchTimes[runs / 10], 1e6 * searchTimes[runs * 9 / 10]))
            print(String(format: "recall %@: N = %d, d = %d, history %d, n = %d: median %.1f µs [p10 %.1f – p90 %.1f] of %d calls; "
                         + "re-scored %.0f rows per call, %d of 64 fell back", "\(precision)" as NSString, items, model.index.dimension,
                         history, n, 1e6 * times[runs / 2], 1e6 * times[runs / 10], 1e6 * times[runs * 9 / 10], runs,
                         Double(rescored) / 64, fellBack))
        }
    }
}
