import Foundation
import ModelDescription
import Retrieval
import TensorCore
import Testing
import TestSupport

/// The retrieval model directory and its item index: what `metarec retrieval train` publishes,
/// `retrieval eval` and `serve --retrieval` read back; bad files are refused with a clear message.
@Suite struct RetrievalModelFilesTests {
    static func trained(_ config: RetrievalConfig) -> TrainedRetrieval {
        let p = RetrievalParameters(config: config)
        var rng = SeededRandom(seed: 3)
        let features = Tensor(shape: [config.items, config.itemFeatures], scalars: (0..<config.items * config.itemFeatures).map { _ in rng.nextUniform() })
        return TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: features),
                                bestEpoch: 2, bestValidationRecall: 0.25, epochs: [])
    }

    static func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("retrieval-dir-\(UUID().uuidString)").path
    }

    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test(arguments: [HistoryEncoderKind.bagOfWords, .gru(hidden: 3), .lstm(hidden: 2), .cnn(filters: 3, width: 2)])
    func `a published model reads back the same parameters, index, keys and settings`(encoder: HistoryEncoderKind) throws {
        var config = RetrievalConfig(items: 7, itemFeatures: 2)
        // Hidden width 16: with fewer ReLU units an item's tower output can be exactly 0 at
        // initialisation, a row that normalisation leaves at 0 (checked below to be of norm 1).
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.encoder) = (3, 4, 16, encoder)
        (config.temperature, config.queueWarmupSteps, config.seed) = (0.2, 17, 9)
        if encoder == .bagOfWords { config.adaptation = try UserAdaptation(steps: 3, rate: 0.04, supportSize: 6) }
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = Self.trained(config)
        let keys = ["a", "b", "c", "d", "e", "f", "g"]
        let path = try RetrievalModelFiles.write(model, config: config, catalogue: Array(10..<17), keys: keys, to: root)
        #expect(try String(contentsOfFile: root + "/CURRENT", encoding: .utf8) == (path as NSString).lastPathComponent + "\n")
        let loaded = try RetrievalModelFiles.read(root)
        let format = encoder == .bagOfWords || encoder == .lstm(hidden: 2) || encoder == .cnn(filters: 3, width: 2) ? 3 : 2
        #expect(loaded.path == path && loaded.manifest.config == config && loaded.manifest.formatVersion == format,
                "format 3 for an LSTM, a CNN or an adaptation (the bag of words here has one), else 2")
        #expect(loaded.manifest.catalogue == Array(10..<17) && loaded.manifest.bestEpoch == 2)
        #expect(Set(loaded.manifest.files?.keys ?? [:].keys) == ["parameters.safetensors", "item_embeddings.safetensors", "item_keys.json"])
        #expect(loaded.parameters.namedTensors.map(\.tensor) == model.parameters.namedTensors.map(\.tensor))
        #expect(loaded.index.embeddings == model.itemEmbeddings && loaded.index.keys == keys && loaded.index.rows["c"] == 2)
        // V is normalised, as searched.
        for i in 0..<7 {
            let norm = (0..<4).reduce(Float(0)) { $0 + loaded.index.embeddings[i, $1] * loaded.index.embeddings[i, $1] }
            #expect(abs(norm - 1) < 1e-5)
        }
    }

    @Test func `a second publish replaces CURRENT and keeps the version it replaced`() throws {
        let config = RetrievalConfig(items: 5, itemFeatures: 0)
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        let second = try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        let third = try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        #expect(try RetrievalModelFiles.read(root).path == third)
        #expect(FileManager.default.fileExists(atPath: second) && !FileManager.default.fileExists(atPath: first))
        #expect(try RetrievalModelFiles.read(root).index.keys == ["1", "2", "3", "4", "5"])
    }

    @Test func `a changed byte in the index fails its checksum`() throws {
        let config = RetrievalConfig(items: 5, itemFeatures: 0)
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/item_embeddings.safetensors"))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path + "/item_embeddings.safetensors"))
        let text = Self.message { _ = try RetrievalModelFiles.read(root) }
        #expect(text.contains("item_embeddings.safetensors") && text.contains("checksum mismatch"), "\(text)")
    }

    @Test func `index files that disagree are refused naming the problem`() throws {
        let dir = Self.scratch()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 0.6, 0.8])
        try ItemIndex(embeddings: v, keys: ["x", "y", "z"]).write(to: dir, modelVersion: "m1")
        #expect(try ItemIndex.read(from: dir, modelVersion: "m1", items: 3, dimension: 2).keys == ["x", "y", "z"])
        #expect(Self.message { _ = try ItemIndex.read(from: dir, modelVersion: "m2", items: 3, dimension: 2) }.contains("model version m1"))
        #expect(Self.message { _ = try ItemIndex.read(from: dir, modelVersion: "m1", items: 4, dimension: 2) }.contains("shape [3, 2]"))
        try Data(#"["x", "y"]"#.utf8).write(to: URL(fileURLWithPath: dir + "/item_keys.json"))
        #expect(Self.message { _ = try ItemIndex.read(from: dir, modelVersion: "m1", items: 3, dimension: 2) }.contains("2 item keys for 3 embedding rows"))
        try Data(#"{"x": 1}"#.utf8).write(to: URL(fileURLWithPath: dir + "/item_keys.json"))
        #expect(Self.message { _ = try ItemIndex.read(from: dir, modelVersion: "m1", items: 3, dimension: 2) }.contains("expected a JSON array of strings"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/item_embeddings.safetensors"))
        #expect(Self.message { _ = try ItemIndex.read(from: dir, modelVersion: "m1", items: 3, dimension: 2) }.contains("malformed"))
    }

    @Test func `an index with a non-finite value, a repeated or empty key is refused`() {
        let v = Tensor(shape: [3, 2], scalars: [1, 0, 0, .nan, 0.6, 0.8])
        #expect(Self.message { _ = try ItemIndex(embeddings: v, keys: ["x", "y", "z"]) }.contains("row 1 (key \"y\") is not finite"))
        let inf = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, .infinity, 0.8])
        #expect(Self.message { _ = try ItemIndex(embeddings: inf, keys: ["x", "y", "z"]) }.contains("row 2"))
        let ok = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 0.6, 0.8])
        #expect(Self.message { _ = try ItemIndex(embeddings: ok, keys: ["x", "y", "x"]) }.contains("appears twice"))
        #expect(Self.message { _ = try ItemIndex(embeddings: ok, keys: ["x", "", "z"]) }.contains("is empty"))
        #expect(Self.message { _ = try ItemIndex(embeddings: Tensor(shape: [6], repeating: 1), keys: ["x"]) }.contains("expected (N, d)"))
    }

    @Test func `a manifest naming another version's parameters is refused`() throws {
        let config = RetrievalConfig(items: 5, itemFeatures: 0)
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        #expect(Self.message { _ = try RetrievalModelFiles.read(root + "/nowhere") }.contains("not a retrieval model directory"))
        try Data("v-../x\n".utf8).write(to: URL(fileURLWithPath: root + "/CURRENT"))
        #expect(Self.message { _ = try RetrievalModelFiles.read(root) }.contains("CURRENT"))
    }

    @Test func `a manifest whose encoder disagrees with its widths, with settings out of range or a partial adaptation, is refused`() throws {
        var config = RetrievalConfig(items: 5, itemFeatures: 0)
        config.encoder = .cnn(filters: 3, width: 2)
        let root = Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try RetrievalModelFiles.write(Self.trained(config), config: config, catalogue: Array(1...5), to: root)
        let manifestPath = path + "/retrieval.json"
        let original = try String(contentsOfFile: manifestPath, encoding: .utf8)
        #expect(original.contains("\"cnn3x2\""))
        let cases: [(String, String, String)] = [
            ("\"cnn3x2\"", "\"lstm3\"", "does not match its widths"),
            ("\"cnn3x2\"", "\"bow\"", "does not match its widths"),
            ("\"cnnWidth\" : 2", "\"cnnWidth\" : 99", "does not match its widths"),
        ]
        for (from, to, expected) in cases {
            try Data(original.replacingOccurrences(of: from, with: to).utf8).write(to: URL(fileURLWithPath: manifestPath))
            #expect(Self.message { _ = try RetrievalModelFiles.read(root) }.contains(expected), "\(from) → \(to)")
        }
        let wide = original.replacingOccurrences(of: "\"cnn3x2\"", with: "\"cnn3x99\"").replacingOccurrences(of: "\"cnnWidth\" : 2", with: "\"cnnWidth\" : 99")
        try Data(wide.utf8).write(to: URL(fileURLWithPath: manifestPath))
        #expect(Self.message { _ = try RetrievalModelFiles.read(root) }.contains("window width must be in 1 ... max history"))
        let adapted = original.replacingOccurrences(of: "\"cnnWidth\" : 2", with: "\"cnnWidth\" : 2, \"adaptSteps\" : 3")
        try Data(adapted.utf8).write(to: URL(fileURLWithPath: manifestPath))
        #expect(Self.message { _ = try RetrievalModelFiles.read(root) }.contains("given together or not at all"))
        let negative = original.replacingOccurrences(of: "\"cnnWidth\" : 2",
                                                     with: "\"cnnWidth\" : 2, \"adaptSteps\" : -3, \"adaptRate\" : 0.1, \"adaptSupport\" : 2")
        try Data(negative.utf8).write(to: URL(fileURLWithPath: manifestPath))
        #expect(Self.message { _ = try RetrievalModelFiles.read(root) }.contains("adaptation steps must be in 0...100"))
        try Data(original.utf8).write(to: URL(fileURLWithPath: manifestPath))
        #expect(try RetrievalModelFiles.read(root).manifest.config == config)
    }
}
