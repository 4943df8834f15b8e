import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `metarec train` with an absurd config fails at validation, in a child process whose peak
/// resident set (`ru_maxrss` from `wait4`) stays under 100 MB: the config's sizes are never
/// allocated, and nothing traps.
@Suite struct AbsurdConfigTests {
    /// Runs `executable arguments` and returns its exit status, wall time, peak RSS and stderr.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, seconds: Double, maxRSSBytes: Int, stderr: String) {
        let errPath = NSTemporaryDirectory() + "absurd-config-stderr-\(UUID().uuidString)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let start = ContinuousClock.now
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        try #require(spawned == 0, "posix_spawn \(executable): \(spawned)")
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: errPath)
        return (status, seconds, Int(usage.ru_maxrss) * 1024, stderr)
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
        // Process start-up included; the validation itself is timed in ConfigBoundsTests.
        #expect(result.seconds < 5, "took \(result.seconds) s")
        #expect(!FileManager.default.fileExists(atPath: dir + "/model/manifest.json"))
        print("metarec train, absurd config (\(keyPath)): \(String(format: "%.3f", result.seconds)) s, peak RSS \(result.maxRSSBytes >> 20) MiB")
    }
}
