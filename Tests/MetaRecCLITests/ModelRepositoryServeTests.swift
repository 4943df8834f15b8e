#if HTTPServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Serving
import Testing

/// `metarec serve --models DIR` as a process (issue 23, `docs/DESIGN.md` §Model repository): a hot
/// swap under load (wrk, 16 connections) fails no request, a bad repository is refused at start
/// with the file and line, and the repository options are refused without `--models`.
@Suite(.serialized) struct ModelRepositoryServeTests {
    static let wrk = "/usr/bin/wrk"

    /// A synthetic model (seed `seed`) written as `root/ranker/.tmp-<version>` and renamed to
    /// `root/ranker/<version>`: the version appears in one step, as a deployment would do it.
    @discardableResult
    static func writeVersion(_ root: URL, _ version: Int, seed: UInt64) throws -> String {
        let (staging, modelVersion) = try stageVersion(root, version, seed: seed)
        try publish(staging, root, version)
        return modelVersion
    }

    /// Writes the synthetic model of seed `seed` as `root/ranker/.tmp-<version>` (skipped by a
    /// scan: not an integer); returns its directory and model version id.
    static func stageVersion(_ root: URL, _ version: Int, seed: UInt64) throws -> (URL, String) {
        var shape = ServingModel.SyntheticShape.small
        shape.seed = seed
        let model = try ServingModel.synthetic(shape)
        model.warmEmbeddings(items: 50, users: 0)
        let dir = root.appendingPathComponent("ranker")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let staging = dir.appendingPathComponent(".tmp-\(version)")
        try model.write(to: staging.path)
        return (staging, model.modelVersion)
    }

    /// Renames a staged version into place (one step).
    static func publish(_ staging: URL, _ root: URL, _ version: Int) throws {
        try FileManager.default.moveItem(at: staging, to: root.appendingPathComponent("ranker/\(version)"))
    }

    /// wrk's Lua script: POST /v1/score for a new user each request; counts replies by the
    /// version that scored them, and anything that is not a 200 naming a version as bad.
    static let script = #"""
        local threads = {}
        function setup(thread) table.insert(threads, thread) end
        function init(args) v1 = 0; v2 = 0; bad = 0; n = 0 end
        request = function()
            n = n + 1
            return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"},
                '{"user": "u' .. n .. '", "candidates": [{"item_id": "3"}, {"item_id": "4"}]}')
        end
        response = function(status, headers, body)
            if status ~= 200 then bad = bad + 1
            elseif body:find('"version":2', 1, true) then v2 = v2 + 1
            elseif body:find('"version":1', 1, true) then v1 = v1 + 1
            else bad = bad + 1 end
        end
        done = function(summary, latency, requests)
            local a, b, c = 0, 0, 0
            for _, t in ipairs(threads) do a = a + t:get("v1"); b = b + t:get("v2"); c = c + t:get("bad") end
            local e = summary.errors
            io.write(string.format("RESULT requests=%d v1=%d v2=%d bad=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
                summary.requests, a, b, c, e.connect, e.read, e.write, e.timeout, e.status))
        end
        """#

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: wrk), "needs wrk at /usr/bin/wrk"))
    func `a new version swapped in under load fails no request, and responses move to it`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-repo-swap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 51)
        // Written before the load starts: under load only the rename and the SIGHUP happen.
        let (staging, second) = try Self.stageVersion(root, 2, seed: 52)
        let served = try ServeCommandTests.Served(arguments: ["--models", root.path, "--port", "0", "--models-poll-seconds", "0"],
                                                  environment: ["OPENBLAS_NUM_THREADS": "1"])
        let port = try ServeCommandTests.port(of: served.waitFor { $0.contains("listening") })
        let lua = root.appendingPathComponent("score.lua")
        try Self.script.write(to: lua, atomically: true, encoding: .utf8)
        let load = Process()
        load.executableURL = URL(fileURLWithPath: Self.wrk)
        load.arguments = ["-t2", "-c16", "-d8s", "--timeout", "10s", "-s", lua.path, "http://127.0.0.1:\(port)"]
        let output = Pipe()
        load.standardOutput = output
        load.standardError = output
        try load.run()
        Thread.sleep(forTimeInterval: 2)  // load on version 1 first
        try Self.publish(staging, root, 2)
        kill(served.process.processIdentifier, SIGHUP)
        let reloaded = served.waitFor { $0.contains("model repository reload") }  // "reloaded", or "reload failed"
        let underLoad = load.isRunning
        #expect(reloaded?.contains("model repository reloaded") == true, "\(reloaded ?? "no reload logged")")
        #expect(underLoad, "the swap finished while wrk was still sending: \(reloaded ?? "")")
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        load.waitUntilExit()
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("RESULT") }, "wrk printed no result:\n\(text)")
        var counts: [String: Int] = [:]
        for field in line.split(separator: " ").dropFirst() {
            let kv = field.split(separator: "=")
            counts[String(kv[0])] = Int(kv[1])
        }
        print("hot swap under load: \(line)")
        #expect(counts["requests"]! > 100, "\(line)")
        for failure in ["bad", "connect", "read", "write", "timeout", "status"] { #expect(counts[failure] == 0, "\(failure): \(line)\n\(text)") }
        #expect(counts["v1"]! + counts["v2"]! == counts["requests"]!, "\(line)")
        #expect(counts["v1"]! > 0 && counts["v2"]! > 0, "the responses moved from version 1 to 2: \(line)")
        let after = try FleetTests.score(port, user: "after-swap")
        #expect(after.status == 200 && after.json["version"] as? Int == 2 && after.json["model_version"] as? String == second, "\(after)")
        #expect(served.terminate() == 0)
        #expect(served.lines.contains { $0.contains("model repository reloaded") && $0.contains("trigger=signal") }, "\(served.lines.joined(separator: "\n"))")
        #expect(served.lines.contains { $0.contains("model version unloaded") && $0.contains("version=1") })
    }

    /// Whether process `pid` ignores (`SigIgn`) or catches (`SigCgt`) SIGHUP, from /proc; `nil`
    /// once it has gone.
    static func hangupDisposition(_ pid: Int32) -> (ignored: Bool, caught: Bool)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func hangup(_ field: String) -> Bool {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
            let mask = line.flatMap { UInt64($0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
            return mask & (1 << (UInt64(SIGHUP) - 1)) != 0
        }
        return (hangup("SigIgn"), hangup("SigCgt"))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads /proc/<pid>/status"))
    func `a SIGHUP during start-up is ignored, and once serving it reloads`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-repo-hup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 55)
        let served = try ServeCommandTests.Served(arguments: ["--models", root.path, "--port", "0", "--models-poll-seconds", "0"],
                                                  environment: ["OPENBLAS_NUM_THREADS": "1"])
        let pid = served.process.processIdentifier
        // Ignored from the start of `serve`, long before the reloader traps it once the versions are loaded.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, let state = Self.hangupDisposition(pid), !state.ignored && !state.caught {
            Thread.sleep(forTimeInterval: 0.001)
        }
        let first = Self.hangupDisposition(pid)
        #expect(first?.ignored == true, "SIGHUP is ignored before it is trapped: \(String(describing: first))")
        kill(pid, SIGHUP)
        let listening = served.waitFor { $0.contains("listening") }
        let port = try ServeCommandTests.port(of: try #require(listening, "the server died: \(served.lines.joined(separator: "\n"))"))
        #expect(try FleetTests.score(port, user: "hup").status == 200)
        // Once serving, SIGHUP is the reloader's again.
        try Self.writeVersion(root, 2, seed: 56)
        kill(pid, SIGHUP)
        let reloaded = served.waitFor { $0.contains("model repository reload") }
        #expect(reloaded?.contains("model repository reloaded") == true && reloaded?.contains("trigger=signal") == true, "\(reloaded ?? "")")
        #expect(try FleetTests.score(port, user: "hup").json["version"] as? Int == 2)
        #expect(served.terminate() == 0)
    }

    @Test(.enabled(if: RedisProcess.available, RedisProcess.absent))
    func `with a shared store each version keeps its rows under its own model version`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-repo-redis-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 71)
        try Self.writeVersion(root, 2, seed: 72)
        try "stable 1\ncanary 2\n".write(to: root.appendingPathComponent("ranker/LABELS"), atomically: true, encoding: .utf8)
        let redis = try RedisProcess()
        let served = try ServeCommandTests.Served(arguments: ["--models", root.path, "--port", "0", "--support", redis.url,
                                                              "--split", "stable=1,canary=1"], environment: [:])
        let port = try ServeCommandTests.port(of: served.waitFor { $0.contains("listening") })
        let user = "repo-\(UUID().uuidString)"
        #expect(try FleetTests.event(port, user: user).status == 200)
        for label in ["stable", "canary"] {
            let (status, body) = try EventLogCrashTests.request(port, "POST", "/v1/models/ranker/labels/\(label)/score",
                                                                #"{"user": "\#(user)", "candidates": [{"item_id": "3"}]}"#)
            #expect(status == 200 && body.contains(#""support_rows":1"#), "\(label): \(body)")
        }
        let metrics = try EventLogCrashTests.request(port, "GET", "/metrics").1
        #expect(FleetTests.metric(metrics, "metarec_support_store_appended_rows_total") == 2, "one row per version")
        #expect(served.terminate() == 0)
    }

    @Test func `a malformed LABELS or an unloadable version is refused at start, naming it`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-repo-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeVersion(root, 1, seed: 61)
        let labels = root.appendingPathComponent("ranker/LABELS")
        try "stable 1\ncanary\n".write(to: labels, atomically: true, encoding: .utf8)
        let refused = try ServeCommandTests.Served(arguments: ["--models", root.path, "--port", "0"], environment: [:])
        #expect(refused.exitStatus() != 0)
        #expect(refused.lines.contains { $0.contains("\(labels.path):2") }, "\(refused.lines)")
        try FileManager.default.removeItem(at: labels)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("ranker/2"), withIntermediateDirectories: true)
        let unloadable = try ServeCommandTests.Served(arguments: ["--models", root.path, "--port", "0"], environment: [:])
        #expect(unloadable.exitStatus() != 0)
        #expect(unloadable.lines.contains { $0.contains("cannot load the model version \(root.path)/ranker/2") }, "\(unloadable.lines)")
        let both = try ServeCommandTests.Served(arguments: ["--models", root.path, "--model", root.path + "/ranker/1"], environment: [:])
        #expect(both.exitStatus() != 0)
        #expect(both.lines.contains { $0.contains("give exactly one") }, "\(both.lines)")
        let orphan = try ServeCommandTests.Served(arguments: ["--model", root.path + "/ranker/1", "--split", "stable=1"], environment: [:])
        #expect(orphan.exitStatus() != 0)
        #expect(orphan.lines.contains { $0.contains("--split is an option of a model repository") }, "\(orphan.lines)")
    }
}
extension ServeCommandTests.Served {
    /// Reads standard error to its end and waits for the process to exit by itself (a refusal at start).
    func exitStatus() -> Int32 {
        _ = waitFor { _ in false }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
#endif
