#if HTTPServer
import Foundation
import Retrieval
import Serving
import TensorCore
import Testing

/// `metarec serve --retrieval` as a process: the retrieval model loads beside the ranker and
/// `POST /v1/recommend` answers; a damaged retrieval model is refused at start, naming the file.
@Suite(.serialized) struct ServeRecommendTests {
    /// A synthetic ranker and a two-tower model over its item ids "0" … "99" in `root`.
    static func models(in root: URL) throws -> (model: String, retrieval: String) {
        let model = root.appendingPathComponent("model").path, retrieval = root.appendingPathComponent("retrieval").path
        let synthetic = try ServingModel.synthetic(.small)
        synthetic.warmEmbeddings(items: 500, users: 0)
        try synthetic.write(to: model)
        var config = RetrievalConfig(items: 100, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth) = (4, 4, 8)
        let p = RetrievalParameters(config: config)
        let trained = TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: Tensor(shape: [100, 0])),
                                       bestEpoch: 1, bestValidationRecall: 0, epochs: [])
        try RetrievalModelFiles.write(trained, config: config, catalogue: Array(0..<100), to: retrieval)
        return (model, retrieval)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["METAREC_PYTHON"].map { !$0.isEmpty } ?? false, "METAREC_PYTHON is unset"))
    func `serve --retrieval answers /v1/recommend`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-serve-recommend-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (model, retrieval) = try Self.models(in: root)
        let served = try ServeCommandTests.Served(arguments: ["--model", model, "--port", "0"],
                                                  environment: ["METAREC_RETRIEVAL": retrieval])
        let port = try ServeCommandTests.port(of: served.waitFor { $0.contains("listening") })
        #expect(try ServeCommandTests.python([String(port), "recommend", "5"]).contains("recommended"))
        #expect(served.terminate() == 0)
    }

    @Test func `a damaged retrieval model is refused at start naming the file`() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-serve-recommend-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (model, retrieval) = try Self.models(in: root)
        let version = try RetrievalModelFiles.resolve(retrieval)
        try Data(#"["0"]"#.utf8).write(to: URL(fileURLWithPath: version + "/item_keys.json"))
        let served = try ServeCommandTests.Served(arguments: ["--model", model, "--retrieval", retrieval, "--port", "0"], environment: [:])
        served.process.waitUntilExit()
        _ = served.waitFor { _ in false }
        #expect(served.process.terminationStatus != 0)
        #expect(served.lines.contains { $0.contains("cannot load the retrieval model") && $0.contains("item_keys.json") }, "\(served.lines)")
        let missing = try ServeCommandTests.Served(
            arguments: ["--model", model, "--port", "0"], environment: ["METAREC_RETRIEVAL": retrieval + "-none"])
        missing.process.waitUntilExit()
        _ = missing.waitFor { _ in false }
        #expect(missing.process.terminationStatus != 0)
        #expect(missing.lines.contains { $0.contains("not a retrieval model directory") }, "\(missing.lines)")
    }
}
#endif
