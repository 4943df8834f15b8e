#if HTTPServer  // the package trait (on by default): `metarec serve` needs MetaRecServer (Hummingbird)
import ArgumentParser
import Foundation
import MetaRecServer
import ModelDescription
import ModelMath
import Serving

/// `metarec serve`: the HTTP scoring server (`docs/DESIGN.md` §HTTP, the `MetaRecServer` library) on one
/// model directory, until SIGTERM/SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve per-user fine-tuned scores over HTTP: POST /v1/score, POST /v1/events, GET /healthz, GET /metrics.")

    @Option(help: "Model directory (from metarec train).")
    var model: String

    @Option(help: "Address to bind (loopback by default).")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0 picks a free one).")
    var port = 8080

    @Option(help: "Auto-batcher worker threads.")
    var workers = 1

    @Option(help: "Seconds between eviction sweeps of the support store and embedding table.")
    var sweepSeconds = 60.0

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard workers >= 1 && workers <= 64 else { throw ValidationError("--workers must be in 1...64") }
        guard sweepSeconds > 0 else { throw ValidationError("--sweep-seconds must be positive") }
    }

    func run() async throws {
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel(path: model)
        } catch {
            throw ValidationError("cannot load \(model): \(error)")
        }
        let configuration = ServerConfiguration(host: host, port: port, workers: workers,
                                                sweepInterval: .milliseconds(Int64(sweepSeconds * 1000)))
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data(("metarec serve: " + line + "\n").utf8)) }
        let app = buildApplication(model: ServingModel(loaded), configuration: configuration, log: log) { bound in
            log("model \(loaded.manifest.modelVersion) listening on http://\(host):\(bound)")
        }
        // Until SIGTERM/SIGINT: then the server drains, the batcher finishes, the support store is snapshotted.
        try await app.runService()
    }
}
#endif
