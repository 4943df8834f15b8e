import ArgumentParser
import Foundation
import Retrieval
import TensorCore

/// `metarec-bench topn`: latency of exact top-k by inner product for one query over a catalogue,
/// one core, thread CPU time, three ways:
///
/// ```
/// gemm        InnerProductSearch: blocked GEMM V[I]·qᵀ (OpenBLAS / hand kernel) + bounded heap
/// scan fp32   CatalogueScan(.float32): fused GEMV + selection over fp32 panels (4·d B/item)
/// scan int8   CatalogueScan(.int8): the same over int8 codes + scale + error bound (4⌈d/4⌉ + 12 B/item),
///             the candidates the bound cannot rule out re-scored in fp32 (exact)
///
/// per N: items V (N, d) and queries (Q, d) ~ N(0, 1), seeded
///        validated first: both scans return the same ids and bit-identical scores, and the
///        top-k set equals a full sort of Double scores (and the GEMM search's)
///        median / p10 / p90 of `runs` searches (after one warm-up search)
/// floor  = bytes the method reads ÷ copy bandwidth, measured in the same run on a buffer of
///          that size, counted as STREAM does (a memcpy of B bytes moves 2·B: read and write;
///          median of 5 after one warm-up copy). Re-scored rows (≤ a few hundred) not counted.
/// ```
/// `--dump DIR` writes `items_N.f32`, `queries.f32` (raw little-endian float32, row-major) and
/// `topk_N.i32` (our ids per query) for `Benchmarks/peers/topn_peer.py`, which times numpy and
/// faiss on the same vectors.
struct BenchTopN: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topn",
        abstract: "Exact top-k by inner product over 10k-1M items (d = 64), one query, one core, medians of several runs.")

    @Option(help: "Catalogue sizes, comma-separated.") var items: String = "10000,100000,1000000"
    @Option(help: "Embedding dimension d.") var dimension = 64
    @Option(help: "k of the top-k.") var k = 100
    @Option(help: "Timed runs per size and method (median reported).") var runs = 15
    @Option(help: "Items per GEMM block.") var blockSize = 2048
    @Option(help: "Write the vectors and our results here for the Python peers.") var dump: String?
    @Option(help: "Output format.") var format: OutputFormat = .table

    struct Row {
        var items: Int, method: String, median: Double, p10: Double, p90: Double, bytes: Int, floor: Double, rescored: Int
    }

    func run() async throws {
        BLASRuntime.threadCount = 1
        BLASRuntime.warmUp()
        let sizes = items.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= k && $0 > 0 }), dimension > 0, k > 0, runs > 0 else {
            throw ValidationError("--items must list sizes >= k; --dimension, --k, --runs must be positive")
        }
        let q = Self.gaussian([1, dimension], seed: 7)
        if let dump { try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true); try Self.write(q.scalars, to: dump + "/queries.f32") }
        var rows: [Row] = []
        for n in sizes {
            let v = Self.gaussian([n, dimension], seed: UInt64(n))
            rows += try measure(n: n, items: v, query: q)
        }
        print(format == .json ? Self.json(rows, d: dimension, k: k) : Self.table(rows, d: dimension, k: k, runs: runs))
    }

    /// The three methods at one size, validated, then timed.
    func measure(n: Int, items v: Tensor, query q: Tensor) throws -> [Row] {
        var gemm = InnerProductSearch(items: v, blockSize: blockSize)
        var fp32 = CatalogueScan(items: v, precision: .float32), int8 = CatalogueScan(items: v, precision: .int8)
        gemm.search(queries: q, k: k) { _ in [Int32]() }
        fp32.search(query: q, k: k, excluding: [Int32]())
        int8.search(query: q, k: k, excluding: [Int32]())
        try Self.validate(gemm: gemm, fp32: fp32, int8: int8, items: v, query: q, k: k)
        if let dump {
            try Self.write(v.scalars, to: dump + "/items_\(n).f32")
            try Self.write(fp32.ids.prefix(k).map { $0 }, to: dump + "/topk_\(n).i32")
        }
        let (k, runs) = (self.k, self.runs)
        let gemmTimes = Self.times(runs) { gemm.search(queries: q, k: k) { _ in [Int32]() } }
        let fp32Times = Self.times(runs) { fp32.search(query: q, k: k, excluding: [Int32]()) }
        let int8Times = Self.times(runs) { int8.search(query: q, k: k, excluding: [Int32]()) }
        let fp32Bandwidth = Self.copyBandwidth(bytes: fp32.bytesPerScan), int8Bandwidth = Self.copyBandwidth(bytes: int8.bytesPerScan)
        func row(_ method: String, _ t: [Double], bytes: Int, bandwidth: Double, rescored: Int) -> Row {
            Row(items: n, method: method, median: 1000 * t[t.count / 2], p10: 1000 * t[t.count / 10], p90: 1000 * t[(t.count * 9) / 10],
                bytes: bytes, floor: 1000 * Double(bytes) / bandwidth, rescored: rescored)
        }
        return [row("gemm (OpenBLAS)", gemmTimes, bytes: v.count * 4, bandwidth: fp32Bandwidth, rescored: 0),
                row("scan fp32", fp32Times, bytes: fp32.bytesPerScan, bandwidth: fp32Bandwidth, rescored: 0),
                row("scan int8 exact", int8Times, bytes: int8.bytesPerScan, bandwidth: int8Bandwidth, rescored: int8.rescored)]
    }

    /// Sorted thread CPU seconds of `runs` calls.
    static func times(_ runs: Int, _ body: () -> Void) -> [Double] {
        (0..<runs).map { _ in MachinePeak.seconds(.threadCPUTime, of: body) }.sorted()
    }

    /// The two scans agree bit for bit; their top-k set equals a Double full sort's and the GEMM's.
    static func validate(gemm: InnerProductSearch, fp32: CatalogueScan, int8: CatalogueScan, items v: Tensor, query q: Tensor, k: Int) throws {
        let (n, d) = (v.shape[0], v.shape[1])
        guard fp32.count == k, fp32.results.map(\.id) == int8.results.map(\.id), fp32.results.map(\.score) == int8.results.map(\.score) else {
            throw ValidationError("bench topn: \(n) items: the fp32 and int8 scans differ")
        }
        let query = q.row(0)
        let scores = (0..<n).map { i in (0..<d).reduce(0.0) { $0 + Double(v.scalars[i * d + $1]) * Double(query[$1]) } }
        let expected = Set((0..<n).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(k))
        // Float and Double sums may swap two near-equal neighbours at the boundary; the sets must agree.
        guard Set(fp32.results.map { Int($0.id) }) == expected, Set(gemm.results(of: 0).map { Int($0.id) }) == expected else {
            throw ValidationError("bench topn: \(n) items: the top-\(k) differs from a full sort")
        }
    }

    static func gaussian(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return Tensor.normal(shape: shape, std: 1, using: &rng)
    }

    /// Bytes moved per second (read + write) by a memcpy of a `bytes`-byte buffer (median of 5, warmed up).
    static func copyBandwidth(bytes: Int) -> Double {
        let source = [UInt8](repeating: 1, count: bytes)
        var target = [UInt8](repeating: 0, count: bytes)
        target.withUnsafeMutableBytes { t in source.withUnsafeBytes { s in t.copyMemory(from: s) } }
        let times = (0..<5).map { _ in
            MachinePeak.seconds(.threadCPUTime) {
                target.withUnsafeMutableBytes { t in source.withUnsafeBytes { s in t.copyMemory(from: s) } }
            }
        }.sorted()
        return Double(2 * bytes) / times[2]
    }

    static func write<T>(_ values: [T], to path: String) throws {
        try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
    }

    static func table(_ rows: [Row], d: Int, k: Int, runs: Int) -> String {
        var out = "top-\(k) by inner product, d = \(d), 1 query per call, thread CPU time, median [p10-p90] of \(runs) runs, 1 BLAS thread, "
            + "SIMD \(SIMDLevel.inUse)\n"
        out += "    items  method               median ms        p10-p90 ms   B/item   floor ms  median/floor  re-scored\n"
        for r in rows {
            out += String(format: "%9d  %-17@  %11.3f  %8.3f-%-8.3f  %7.1f  %9.3f  %12.2f  %9d\n", r.items, r.method as NSString, r.median, r.p10, r.p90,
                          Double(r.bytes) / Double(r.items), r.floor, r.median / r.floor, r.rescored)
        }
        return out
    }

    static func json(_ rows: [Row], d: Int, k: Int) -> String {
        let results: [[String: Any]] = rows.map {
            ["items": $0.items, "method": $0.method, "median_ms": $0.median, "p10_ms": $0.p10, "p90_ms": $0.p90,
             "bytes_read": $0.bytes, "floor_ms": $0.floor, "rescored": $0.rescored]
        }
        let object: [String: Any] = ["dimension": d, "k": k, "queries": 1, "results": results]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
