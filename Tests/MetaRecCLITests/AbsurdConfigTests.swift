import Foundation
import Testing

/// `metarec train` with an absurd config fails at validation, in a child process whose peak
/// resident set stays under 100 MB: the config's sizes are never allocated, and nothing traps.
///
/// The peak is measured by a small Python parent (`os.fork`, `os.wait4`): Linux carries a
/// process's `ru_maxrss` across `exec` from the address space it was forked from, so a child
/// spawned straight from this (large) test process would report the test process's peak.
@Suite(.enabled(if: PeakRSSProbe.python != nil, "no python3 (or METAREC_PYTHON) to measure a child's peak RSS"))
struct AbsurdConfigTests {
    /// Forks from Python (a few MB), execs the command, prints `ru_maxrss` (KiB) and the wait status.
    static let measure = """
        import os, sys
        pid = os.fork()
        if pid == 0:
            os.execv(sys.argv[1], sys.argv[1:])
        _, status, usage = os.wait4(pid, 0)
        print(usage.ru_maxrss, status)
        """

    /// Runs `executable arguments` and returns its wait status, wall time, peak RSS and stderr.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, seconds: Double, maxRSSBytes: Int, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(PeakRSSProbe.python))
        process.arguments = ["-c", measure, executable] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let start = ContinuousClock.now
        try process.run()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let elapsed = ContinuousClock.now - start
        let fields = String(decoding: outputData, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(fields.count == 2, "measuring script printed \(String(decoding: outputData, as: UTF8.self))")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (Int32(fields[1]), seconds, fields[0] * 1024, String(decoding: errorData, as: UTF8.self))
    }

    @Test(arguments: [
        ("model: {experts: 1000000000000, expert_layers: [4096, 4096]}", "model"),
        ("support_store: {max_tasks: 9000000000000000000}", "support_store.max_tasks"),
        ("serving: {inner_steps: 1000000000}", "serving.inner_steps"),
        ("training: {epochs: 1000000000000, shuffle_buffer: 4000000000}", "training.epochs"),
    ])
    func `metarec train refuses an absurd config quickly in bounded memory`(extra: String, keyPath: String) throws {
        let directory = try #require(ExecutableSymbols.productsDirectory, "no build products directory")
        let metarec = directory.appendingPathComponent("metarec").path
        try #require(FileManager.default.isExecutableFile(atPath: metarec), "\(metarec) is not built")
        let dir = NSTemporaryDirectory() + "absurd-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            task_key: u
            features: [{name: u, kind: categorical}, {name: x, kind: numeric}]
            labels: [{name: y, kind: binary}]
            \(extra)
            """.write(toFile: dir + "/absurd.yaml", atomically: true, encoding: .utf8)
        try "u,x,y\n1,0.5,1\n2,0.25,0\n".write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        let result = try Self.run(metarec, ["train", "--config", dir + "/absurd.yaml", "--data", dir + "/data.csv", "--out", dir + "/model"])
        // A normal exit with a failure code, not a signal (an overflow trap is SIGILL/SIGTRAP).
        #expect(result.status & 0x7f == 0, "killed by signal \(result.status & 0x7f)")
        #expect((result.status >> 8) & 0xff != 0)
        #expect(result.stderr.contains("absurd.yaml") && result.stderr.contains("\(keyPath): "), "\(result.stderr)")
        #expect(result.maxRSSBytes < 100 << 20, "peak RSS \(result.maxRSSBytes) bytes")
        // Python's and the process's start-up included; the validation itself is timed in ConfigBoundsTests.
        #expect(result.seconds < 5, "took \(result.seconds) s")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/model")) ?? []
        #expect(!written.contains { $0 == "CURRENT" || $0 == "manifest.json" || $0.hasPrefix("v-") }, "nothing published: \(written)")
        let baseline = try Self.run(metarec, ["--help"])
        print("metarec train, absurd config (\(keyPath)): \(String(format: "%.3f", result.seconds)) s, peak RSS "
              + "\(result.maxRSSBytes >> 20) MiB (metarec --help: \(baseline.maxRSSBytes >> 20) MiB)")
    }
}

/// The Python that measures a child's peak RSS.
enum PeakRSSProbe {
    /// `$METAREC_PYTHON`, else `python3` on PATH.
    static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let p = environment["METAREC_PYTHON"], FileManager.default.isExecutableFile(atPath: p) { return p }
        let path = environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
