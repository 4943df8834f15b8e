import ArgumentParser
import Foundation
import MetaTrain
import ModelDescription
import ModelMath

/// `metarec-bench csv`: throughput of the streaming CSV reader, tokenising only and
/// tokenising + encoding, on a generated log of mixed quoted/unquoted, numeric and
/// multi-categorical columns.
struct BenchCSV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csv",
        abstract: "MB/s and rows/s of the CSV reader (tokenise only; tokenise + encode), median of several runs.")

    @Option(help: "Size of the generated CSV in MB (10^6 bytes).") var megabytes = 100
    @Option(help: "Timed runs per stage (the median is reported).") var runs = 5
    @Option(name: .customLong("chunk-kib"), help: "Read chunk size in KiB.") var chunkKiB = 1024
    @Option(help: "Rows per encoded batch.") var batchSize = 512
    @Flag(help: "Also time the same file gzip-compressed (tokenise + encode).") var gzip = false
    @Option(help: "Output format.") var format: OutputFormat = .table

    func validate() throws {
        guard megabytes > 0, runs > 0, chunkKiB > 0, batchSize > 0 else {
            throw ValidationError("--megabytes, --runs, --chunk-kib and --batch-size must be positive")
        }
    }

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("metarec-bench-csv-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("log.csv").path
        let generated = try CSVBenchData.write(path: path, bytes: megabytes * 1_000_000)
        let options = CSVReadOptions(chunkSize: chunkKiB * 1024)
        let config = CSVBenchData.config

        // Validate before timing: both stages see every generated row.
        let profile = try DataProfile.fit(path: path, config: config, options: options)
        guard profile.rows == generated.rows else {
            throw ValidationError("bench csv: read \(profile.rows) rows, generated \(generated.rows)")
        }
        let encoder = try FeatureEncoder(config: config, statistics: profile.statistics)

        var results: [CSVBenchResult] = []
        results.append(try measure("tokenise", bytes: generated.bytes) { try Self.tokenise(path, options) })
        results.append(try measure("tokenise+encode", bytes: generated.bytes) {
            try Self.encode(path, encoder, options, batchSize: batchSize)
        })
        if gzip {
            let gz = directory.appendingPathComponent("log.csv.gz").path
            try CSVBenchData.gzip(path, to: gz)
            results.append(try measure("gunzip+tokenise+encode", bytes: generated.bytes) {
                try Self.encode(gz, encoder, options, batchSize: batchSize)
            })
        }
        for r in results where r.rows != generated.rows {
            throw ValidationError("bench csv: \(r.stage) read \(r.rows) rows, generated \(generated.rows)")
        }
        print(format == .json
              ? CSVBenchResult.json(results, bytes: generated.bytes, rows: generated.rows, runs: runs)
              : CSVBenchResult.table(results, bytes: generated.bytes, rows: generated.rows, runs: runs))
    }

    /// Runs `body` `runs` times; each run returns the rows it read.
    private func measure(_ stage: String, bytes: Int, _ body: () throws -> Int) throws -> CSVBenchResult {
        var seconds: [Double] = [], cpuSeconds: [Double] = []
        var rows = 0
        for _ in 0..<runs {
            let start = ContinuousClock.now
            let cpuStart = Self.threadCPUSeconds()
            rows = try body()
            cpuSeconds.append(Self.threadCPUSeconds() - cpuStart)
            let d = ContinuousClock.now - start
            seconds.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return CSVBenchResult(stage: stage, rows: rows, bytes: bytes, seconds: seconds.sorted(), cpuSeconds: cpuSeconds.sorted())
    }

    /// CPU time of the calling thread: on a shared machine, wall time also counts other
    /// people's work; CPU time does not (the reader is single-threaded).
    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Tokenises every record and touches every field's length.
    static func tokenise(_ path: String, _ options: CSVReadOptions) throws -> Int {
        let t = try CSVTokenizer(path: path, options: options)
        var records = 0
        var checksum = 0
        while try t.nextRecord() {
            records += 1
            for i in 0..<t.fieldCount { checksum &+= t.field(i).count }
        }
        precondition(checksum > 0, "bench csv: empty file")
        return records - 1  // the header
    }

    /// Tokenises and encodes every row into reused batches.
    static func encode(_ path: String, _ encoder: FeatureEncoder, _ options: CSVReadOptions, batchSize: Int) throws -> Int {
        let reader = try CSVLogReader(path: path, encoder: encoder, options: options)
        var batch = encoder.makeBatch(reservingRows: batchSize)
        var rows = 0
        while try reader.read(into: &batch, maxRows: batchSize) > 0 { rows += batch.count }
        return rows
    }
}

/// One stage's timings.
struct CSVBenchResult {
    let stage: String
    let rows: Int
    let bytes: Int
    /// Wall seconds per run, sorted ascending.
    let seconds: [Double]
    /// Thread CPU seconds per run, sorted ascending.
    let cpuSeconds: [Double]

    var median: Double { seconds[seconds.count / 2] }
    var megabytesPerSecond: (median: Double, best: Double, worst: Double) {
        (Double(bytes) / 1e6 / median, Double(bytes) / 1e6 / seconds.first!, Double(bytes) / 1e6 / seconds.last!)
    }
    var rowsPerSecond: Double { Double(rows) / median }
    /// MB per CPU second (median).
    var megabytesPerCPUSecond: Double { Double(bytes) / 1e6 / cpuSeconds[cpuSeconds.count / 2] }

    static func table(_ results: [CSVBenchResult], bytes: Int, rows: Int, runs: Int) -> String {
        var out = "CSV reader: \(String(format: "%.1f", Double(bytes) / 1e6)) MB, \(rows) rows, median of \(runs) runs (one core, warm page cache)\n"
        out += "stage                     MB/s (median)   [worst – best]       rows/s (median)   MB per CPU-s\n"
        for r in results {
            let mb = r.megabytesPerSecond
            out += r.stage.padding(toLength: 26, withPad: " ", startingAt: 0)
            out += String(format: "%13.1f   [%7.1f – %7.1f]   %14.0f   %12.1f\n", mb.median, mb.worst, mb.best,
                          r.rowsPerSecond, r.megabytesPerCPUSecond)
        }
        return out
    }

    static func json(_ results: [CSVBenchResult], bytes: Int, rows: Int, runs: Int) -> String {
        let stages = results.map { r in
            let mb = r.megabytesPerSecond
            return String(format: "{\"stage\":\"%@\",\"mb_per_s_median\":%.2f,\"mb_per_s_worst\":%.2f,\"mb_per_s_best\":%.2f,\"rows_per_s_median\":%.0f,\"mb_per_cpu_s_median\":%.2f,\"seconds\":[%@]}",
                          r.stage, mb.median, mb.worst, mb.best, r.rowsPerSecond, r.megabytesPerCPUSecond,
                          r.seconds.map { String(format: "%.4f", $0) }.joined(separator: ","))
        }
        return "{\"benchmark\":\"csv\",\"bytes\":\(bytes),\"rows\":\(rows),\"runs\":\(runs),\"stages\":[\(stages.joined(separator: ","))]}"
    }
}


/// The generated log `metarec-bench csv` reads: MovieLens-like rows with a quoted free-text
/// title (commas, doubled quotes), a multi-categorical genre list (quoted about half the
/// time), integers, decimals and two labels.
enum CSVBenchData {
    static let header = "user_id,item_id,timestamp,genres,age,price,title,like,rating\n"

    static let config = ModelConfig(
        taskKey: "user_id", time: "timestamp",
        features: [
            .init(name: "user_id", kind: .categorical),
            .init(name: "item_id", kind: .categorical),
            .init(name: "genres", kind: .multiCategorical(separator: "|", pooling: .mean)),
            .init(name: "age", kind: .numeric(normalization: .standard)),
            .init(name: "price", kind: .numeric(normalization: .log1p)),
            .init(name: "title", kind: .categorical),
        ],
        labels: [.init(name: "like", kind: .binary), .init(name: "rating", kind: .regression)])

    static let genres = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi", "Romance", "Thriller", "Documentary"]
    static let words = ["the", "night", "return", "of", "a", "king", "lost", "city", "blue", "river", "star", "war"]

    /// Writes about `bytes` bytes of rows to `path`.
    static func write(path: String, bytes target: Int) throws -> (bytes: Int, rows: Int) {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng
        }
        var buffer: [UInt8] = Array(header.utf8)
        buffer.reserveCapacity(1 << 21)
        var written = 0, rows = 0
        var timestamp = 1_600_000_000
        while written + buffer.count < target {
            let r = next()
            timestamp += Int(r % 7)
            var line = "\(r % 100_000),\(r >> 20 % 50_000),\(timestamp),"
            let g = Int(r >> 8 % 3) + 1
            let list = (0..<g).map { genres[Int((r >> (12 + 3 * UInt64($0))) % UInt64(genres.count))] }.joined(separator: "|")
            line += (r & 1 == 0) ? "\"\(list)\"," : "\(list),"
            line += "\(18 + r >> 30 % 60),\(Double(r >> 36 % 100_000) / 100),"
            let title = (0..<Int(2 + r >> 40 % 4)).map { words[Int((r >> (44 + UInt64($0) * 4)) % UInt64(words.count))] }
                .joined(separator: " ")
            switch r >> 60 {
            case 0..<4: line += "\"\(title), part \(r >> 50 % 9)\","
            case 4..<6: line += "\"\(title) \"\"redux\"\"\","
            default: line += "\(title),"
            }
            line += "\(r >> 33 & 1),\(Double(r >> 34 % 9 + 2) / 2)\n"
            buffer.append(contentsOf: line.utf8)
            rows += 1
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                written += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        written += buffer.count
        return (written, rows)
    }

    /// `gzip -c source > destination` through the gzip tool.
    static func gzip(_ source: String, to destination: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -1 -c \"$0\" > \"$1\"", source, destination]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
