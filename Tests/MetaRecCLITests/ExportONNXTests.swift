import Foundation
import Serving
import Testing

/// `metarec export-onnx` as a process: the exported user scorer run in onnxruntime
/// (`Tests/Scripts/onnx_check.py`) matches MetaRec's scores for the same request to 1e-5.
@Suite struct ExportONNXTests {
    /// `$METAREC_PYTHON` (set by `make test`), else the package's `.build-venv`; nil when neither exists.
    static let python: String? = {
        if let p = ProcessInfo.processInfo.environment["METAREC_PYTHON"], !p.isEmpty, FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        let venv = packageRoot.appendingPathComponent(".build-venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }()
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `executable arguments`; returns (status, stdout, stderr). The two streams go to files,
    /// so neither can fill a pipe while the other is read.
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String, String) {
        let scratch = NSTemporaryDirectory() + "/metarec-onnx-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
        FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        let o = try String(contentsOfFile: scratch + "/out", encoding: .utf8), e = try String(contentsOfFile: scratch + "/err", encoding: .utf8)
        return (process.terminationStatus, o, e)
    }

    /// A written synthetic model with 12 support rows for user `alice`, a 25-candidate request for
    /// her, and the `export-onnx` run over them; returns the directory.
    static func export() throws -> String {
        let dir = NSTemporaryDirectory() + "/metarec-onnx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let model = try Fixtures.model()
        var traffic = SyntheticTraffic(items: 500, seed: 4)
        _ = try Predictor(model: model).record(events: traffic.events(user: "alice", count: 12, tasks: 2))
        try model.write(to: dir + "/model")
        let candidates = (0..<25).map { i in
            #"{"item_id": "\#(i * 7 % 500)", "category": "\#(i % 50)", "price": \#(Double(i) / 4), "popularity": \#(Double(i % 5) / 5)}"#
        }
        try Data(#"{"user": "alice", "candidates": [\#(candidates.joined(separator: ", "))]}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/request.json"))
        let binary = try #require(ExecutableSymbols.productsDirectory).appendingPathComponent("metarec").path
        let (status, _, stderr) = try run(binary, [
            "export-onnx", "--model", dir + "/model", "--user", "alice", "--out", dir + "/alice.onnx",
            "--request", dir + "/request.json", "--check-out", dir + "/check.json", "--steps", "3", "--learning-rate", "0.05",
            "--iterations", "20",
        ])
        try #require(status == 0, "export-onnx failed: \(stderr)")
        #expect(stderr.contains("12 support rows, towers: task0 adapted, task1 adapted"), "\(stderr)")
        return dir
    }

    @Test func `the scorer reproduces MetaRec's scores for the request (Swift side)`() throws {
        let dir = try Self.export()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let check = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/check.json"))) as? [String: Any])
        let served = try #require(check["metarec_scores"] as? [Double]), scorer = try #require(check["scorer_scores"] as? [Double])
        #expect(served.count == 25 * 2 && served == scorer)
    }

    @Test(.enabled(if: python != nil, "no Python with onnxruntime: set METAREC_PYTHON or run `make test` (it creates .build-venv with onnx and onnxruntime)"))
    func `onnxruntime runs the exported scorer and matches MetaRec to 1e-5`() throws {
        let dir = try Self.export()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = Self.packageRoot.appendingPathComponent("Tests/Scripts/onnx_check.py").path
        let (status, stdout, stderr) = try Self.run(Self.python!, [script, dir + "/alice.onnx", dir + "/check.json",
                                                                   "--tolerance", "1e-5", "--iterations", "20"])
        #expect(status == 0, "onnx_check.py: \(stdout) \(stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        #expect(result["shape"] as? [Int] == [25, 2])
        #expect((result["max_abs_diff"] as? Double).map { $0 <= 1e-5 } == true, "\(stdout)")
    }

    @Test func `bad flags are refused with a message`() throws {
        let binary = try #require(ExecutableSymbols.productsDirectory).appendingPathComponent("metarec").path
        let (status, _, stderr) = try Self.run(binary, ["export-onnx", "--model", "m", "--user", "u", "--out", "o", "--request", "r"])
        #expect(status != 0 && stderr.contains("--request and --check-out go together"), "\(stderr)")
    }
}
