import ArgumentParser
import Foundation
import Retrieval
import TensorCore

/// `metarec-bench topn`: latency of exact top-k by inner product over a catalogue
/// (``Retrieval/InnerProductSearch``: blocked GEMM + bounded heaps), one core, thread CPU time.
///
/// ```
/// per N: items V (N, d) and queries (Q, d) ~ N(0, 1), seeded
///        validated first: every query's top-k equals a full sort of its scores
///        median / p10 / p90 of `runs` searches (after one warm-up search)
/// floor  = N·d·4 bytes read ÷ measured copy bandwidth, counted as STREAM does (a memcpy of
///          the buffer moves 2·N·d·4 bytes: read and write; median of 5 after one warm-up copy)
/// ```
/// `--dump DIR` writes `items_N.f32`, `queries.f32` (raw little-endian float32, row-major) and
/// `topk_N.i32` (our ids per query) for `Benchmarks/peers/topn_peer.py`, which times numpy and
/// faiss on the same vectors.
struct BenchTopN: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topn",
        abstract: "Exact top-k by inner product over 10k-1M items (d = 64), one core, medians of several runs.")

    @Option(help: "Catalogue sizes, comma-separated.") var items: String = "10000,100000,1000000"
    @Option(help: "Embedding dimension d.") var dimension = 64
    @Option(help: "k of the top-k.") var k = 100
    @Option(help: "Queries per search call.") var queries = 1
    @Option(help: "Timed runs per size (median reported).") var runs = 15
    @Option(help: "Items per GEMM block.") var blockSize = 2048
    @Option(help: "Write the vectors and our results here for the Python peers.") var dump: String?
    @Option(help: "Output format.") var format: OutputFormat = .table

    func run() async throws {
        BLASRuntime.threadCount = 1
        BLASRuntime.warmUp()
        let sizes = items.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= k && $0 > 0 }), dimension > 0, k > 0, queries > 0, runs > 0 else {
            throw ValidationError("--items must list sizes >= k; --dimension, --k, --queries, --runs must be positive")
        }
        let q = Self.gaussian([queries, dimension], seed: 7)
        if let dump { try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true); try Self.write(q.scalars, to: dump + "/queries.f32") }
        var rows: [[String: Double]] = []
        for n in sizes {
            let v = Self.gaussian([n, dimension], seed: UInt64(n))
            var search = InnerProductSearch(items: v, blockSize: blockSize)
            search.search(queries: q, k: k) { _ in [Int32]() }
            try Self.validate(search, items: v, queries: q, k: k)
            if let dump {
                try Self.write(v.scalars, to: dump + "/items_\(n).f32")
                try Self.write((0..<queries).flatMap { search.results(of: $0).map(\.id) }, to: dump + "/topk_\(n).i32")
            }
            let times = (0..<runs).map { _ in
                MachinePeak.seconds(.threadCPUTime) { search.search(queries: q, k: k) { _ in [Int32]() } }
            }.sorted()
            let bytes = Double(n * dimension * 4)
            let floor = bytes / Self.copyBandwidth(v)
            rows.append(["items": Double(n), "median_ms": 1000 * times[times.count / 2], "p10_ms": 1000 * times[times.count / 10],
                         "p90_ms": 1000 * times[(times.count * 9) / 10], "floor_ms": 1000 * floor])
        }
        print(format == .json ? Self.json(rows, d: dimension, k: k, queries: queries) : Self.table(rows, d: dimension, k: k, queries: queries, runs: runs))
    }

    /// Every query's top-k against a full sort of its Double scores (ties to the lower id).
    static func validate(_ search: InnerProductSearch, items v: Tensor, queries q: Tensor, k: Int) throws {
        let (n, d) = (v.shape[0], v.shape[1])
        for qi in 0..<q.shape[0] {
            let query = q.row(qi)
            let scores = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + Double(v.scalars[i * d + $1]) * Double(query[$1]) } }
            let expected = (0..<n).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k)
            let got = search.results(of: qi).map { Int($0.id) }
            // Float and Double sums may swap two near-equal neighbours; the sets must agree.
            guard Set(got) == Set(expected) else {
                throw ValidationError("bench topn: query \(qi) of \(n) items: the top-\(k) differs from a full sort")
            }
        }
    }

    static func gaussian(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor.normal(shape: shape, std: 1, using: &rng)
    }

    /// Bytes moved per second (read + write) by a memcpy of `v`'s buffer (median of 5, warmed up).
    static func copyBandwidth(_ v: Tensor) -> Double {
        var target = [Float](repeating: 0, count: v.count)
        target.withUnsafeMutableBytes { t in v.scalars.withUnsafeBytes { s in t.copyMemory(from: s) } }
        let times = (0..<5).map { _ in
            MachinePeak.seconds(.threadCPUTime) {
                target.withUnsafeMutableBytes { t in v.scalars.withUnsafeBytes { s in t.copyMemory(from: s) } }
            }
        }.sorted()
        return Double(2 * v.count * 4) / times[2]
    }

    static func write<T>(_ values: [T], to path: String) throws {
        try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
    }

    static func table(_ rows: [[String: Double]], d: Int, k: Int, queries: Int, runs: Int) -> String {
        var out = "top-\(k) by inner product, d = \(d), \(queries) quer\(queries == 1 ? "y" : "ies") per call, thread CPU time, "
            + "median [p10-p90] of \(runs) runs, 1 BLAS thread\n"
        out += "    items    median ms        p10-p90 ms   floor ms  median/floor\n"
        for r in rows {
            out += String(format: "%9.0f  %11.3f  %8.3f-%-8.3f  %9.3f  %12.2f\n", r["items"]!, r["median_ms"]!, r["p10_ms"]!, r["p90_ms"]!,
                          r["floor_ms"]!, r["median_ms"]! / r["floor_ms"]!)
        }
        return out
    }

    static func json(_ rows: [[String: Double]], d: Int, k: Int, queries: Int) -> String {
        let object: [String: Any] = ["dimension": d, "k": k, "queries": queries, "results": rows]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
