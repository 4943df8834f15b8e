import ArgumentParser
import Foundation
import ModelDescription
import ModelMath
import Serving

/// `metarec score`: offline scoring of a JSON-lines file of score requests, through the same
/// ``Predictor`` path as the server. One JSON line out per request line, in order; a bad
/// request yields `{"line": n, "error": {…}}` and scoring goes on.
struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a JSON-lines file of requests offline (same code path as metarec serve).")

    @Option(help: "Model directory (from metarec train).")
    var model: String

    @Option(help: "JSON lines, one score request per line ({\"user\": …, \"candidates\": […]}).")
    var requests: String

    func run() async throws {
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: model)
        } catch {
            throw ValidationError("cannot load \(model): \(error)")
        }
        guard let data = FileManager.default.contents(atPath: requests) else {
            throw ValidationError("cannot read \(requests)")
        }
        let predictor = Predictor(model: ServingModel(loaded))
        let out = FileHandle.standardOutput
        var buffer: [UInt8] = []
        var lineNumber = 0
        var failures = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            do throws(ServingError) {
                let request = try RequestDecoding.scoreRequest(from: Data(line), maxCandidates: predictor.settings.maxCandidates)
                try predictor.score(request).writeJSON(into: &buffer)
            } catch {
                failures += 1
                buffer += Array(#"{"line":"#.utf8) + Array("\(lineNumber)".utf8) + Array(#","error":"#.utf8)
                var object: [String: String] = ["code": error.code, "message": error.description]
                if let field = error.field { object["field"] = field }
                buffer += Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
                buffer.append(UInt8(ascii: "}"))
            }
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count > 1 << 16 {
                out.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        out.write(Data(buffer))
        if failures > 0 {
            FileHandle.standardError.write(Data("metarec score: \(failures) bad request line(s)\n".utf8))
        }
    }
}
