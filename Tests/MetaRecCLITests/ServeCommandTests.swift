#if HTTPServer
import Foundation
import Serving
import Testing

/// `metarec serve` as a process: settings from flags and environment variables (flags win), one
/// JSON-lines log format for every record of the process (Hummingbird's included), `/metrics`
/// parsed by Python's `prometheus_client`, SIGTERM with the snapshot in `--state`, and a restart
/// from it. Talks HTTP through `Tests/Scripts/serve_check.py` (`$METAREC_PYTHON`, set by `make test`).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["METAREC_PYTHON"].map { !$0.isEmpty } ?? false,
                             "METAREC_PYTHON is unset: run `make test` (it creates .build-venv with prometheus_client)"))
struct ServeCommandTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/serve_check.py").path

    /// A running `metarec serve` and its standard error.
    final class Served {
        let process = Process()
        let stderr = Pipe()
        var lines: [String] = []
        var buffer = Data()

        init(arguments: [String], environment: [String: String]) throws {
            let binary = try #require(ExecutableSymbols.productsDirectory).appendingPathComponent("metarec")
            process.executableURL = binary
            process.arguments = ["serve"] + arguments
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("METAREC_") && !$0.key.hasPrefix("LOG_") }
            env.merge(environment) { _, new in new }
            process.environment = env
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        /// A test that fails (or forgets) before stopping its server does not leave it running.
        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }

        /// Reads standard error until a line satisfies `match` (or the process ends); returns it.
        func waitFor(_ match: (String) -> Bool) -> String? {
            while true {
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    lines.append(line)
                    if match(line) { return line }
                }
                let chunk = stderr.fileHandleForReading.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
            }
        }

        /// SIGTERM, then the rest of standard error and the exit status.
        func terminate() -> Int32 {
            process.terminate()
            _ = waitFor { _ in false }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    static func python(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["METAREC_PYTHON"]))
        process.arguments = [script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        try #require(process.terminationStatus == 0, "serve_check.py \(arguments.joined(separator: " ")):\n\(text)")
        return text
    }

    /// The port of the `listening` record's `address=http://127.0.0.1:PORT`, in either format.
    static func port(of line: String?) throws -> Int {
        let line = try #require(line, "the server stopped before listening")
        let match = try #require(line.firstMatch(of: /127\.0\.0\.1:([0-9]+)/), "\(line)")
        return try #require(Int(match.1))
    }

    @Test func `serve from flags and environment, metrics parse, SIGTERM snapshots into --state, restart restores`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-serve-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model").path, state = root.appendingPathComponent("state").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 500, users: 0)
        try synthetic.write(to: model)
        // The model and state from the environment; the port flag wins over an invalid METAREC_PORT.
        let environment = ["METAREC_MODEL": model, "METAREC_STATE": state, "METAREC_PORT": "99999", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"]
        let first = try Served(arguments: ["--port", "0"], environment: environment)
        let listening = first.waitFor { $0.contains(#""message":"listening""#) }
        let port = try Self.port(of: listening)
        #expect(try Self.python([String(port), "events"]).contains("metric families parsed"))
        #expect(first.terminate() == 0, "\(first.lines.joined(separator: "\n"))")
        // One format: every line of standard error is a JSON record, Hummingbird's and the server's alike.
        let records = first.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == first.lines.count, "non-JSON lines: \(first.lines.filter { !$0.hasPrefix("{") })")
        #expect(records.contains { $0["level"] as? String == "debug" })  // LOG_LEVEL=debug reached the handler
        let messages = records.compactMap { $0["message"] as? String }
        #expect(messages.contains("support store snapshot written"), "\(messages)")
        #expect(FileManager.default.fileExists(atPath: state + "/support.snapshot"))

        // Restart from the state directory (flags this time): the two events' rows are back.
        let second = try Served(arguments: ["--model", model, "--state", state, "--port", "0", "--log-format", "text"], environment: [:])
        let restarted = second.waitFor { $0.contains("listening") }
        #expect(second.lines.contains { $0.contains("support store restored") && $0.contains("tasks=") }, "\(second.lines)")
        _ = try Self.python([String(try Self.port(of: restarted)), "support", "2"])
        #expect(second.terminate() == 0)
        #expect(!second.lines.contains { $0.hasPrefix("{") }, "text format, no JSON records")
    }

    @Test func `an invalid setting from the environment is refused with its name`() throws {
        let served = try Served(arguments: [], environment: ["METAREC_MODEL": "/nonexistent", "METAREC_WORKERS": "0"])
        served.process.waitUntilExit()
        _ = served.waitFor { _ in false }
        #expect(served.process.terminationStatus != 0)
        #expect(served.lines.contains { $0.contains("METAREC_WORKERS") && $0.contains("1...64") }, "\(served.lines)")
        // With JSON records, the failure is a record too: standard error stays JSON lines.
        let json = try Served(arguments: ["--log-format", "json"], environment: ["METAREC_MODEL": "/nonexistent"])
        json.process.waitUntilExit()
        _ = json.waitFor { _ in false }
        #expect(json.process.terminationStatus != 0)
        let records = json.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!json.lines.isEmpty && records.count == json.lines.count, "\(json.lines)")
        #expect(records.contains { $0["level"] as? String == "critical" && ($0["message"] as? String)?.hasPrefix("cannot load /nonexistent") == true })
    }
}
#endif
