import Foundation
import Retrieval
import TensorCore
import Testing
import TestSupport

/// Serving-time recall: the user tower over one history, then the exact top-n over the index.
@Suite struct CatalogueRecallTests {
    static func model(encoder: HistoryEncoderKind, items: Int = 40) throws -> RetrievalModel {
        var config = RetrievalConfig(items: items, itemFeatures: 0)
        (config.embeddingWidth, config.dimension, config.hiddenWidth, config.maxHistory, config.encoder) = (6, 5, 8, 4, encoder)
        let p = RetrievalParameters(config: config)
        let trained = TrainedRetrieval(parameters: p, itemEmbeddings: ItemTower.catalogue(p, features: Tensor(shape: [items, 0])),
                                       bestEpoch: 1, bestValidationRecall: 0, epochs: [])
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("recall-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try RetrievalModelFiles.write(trained, config: config, catalogue: Array(0..<items), to: root)
        return try RetrievalModelFiles.read(root)
    }

    /// `u` by ``UserTower/embed``, every item scored in Double, sorted (score desc, row asc).
    static func reference(_ m: RetrievalModel, history: [Int32], excluded: Set<Int32>, n: Int) -> [Int32] {
        let u = UserTower.embed(m.parameters, histories: [history[...]], maxLength: m.manifest.maxHistory)
        let (items, d) = (m.index.count, m.index.dimension)
        let scored = (0..<items).filter { !excluded.contains(Int32($0)) }.map { i -> (Double, Int32) in
            ((0..<d).reduce(0.0) { $0 + Double(u[0, $1]) * Double(m.index.embeddings[i, $1]) }, Int32(i))
        }
        return scored.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }.prefix(n).map(\.1)
    }

    @Test func `the default precision is int8 only where it pays and is proven`() {
        let int8Where = TopNScan.hasVNNI ? CatalogueScan.Precision.int8 : .float32
        #expect(CatalogueRecall.defaultPrecision(items: 1_000_000, dimension: 64) == int8Where)
        #expect(CatalogueRecall.defaultPrecision(items: 10_000, dimension: 64) == .float32, "2.5 MiB: in cache")
        #expect(CatalogueRecall.defaultPrecision(items: 1_000_000, dimension: 2048) == .float32, "d beyond the bound's proof")
    }

    @Test(arguments: [HistoryEncoderKind.bagOfWords, .gru(hidden: 3), .lstm(hidden: 3), .cnn(filters: 3, width: 2)],
          [CatalogueScan.Precision.int8, .float32])
    func `recall equals a full sort of the inner products, exclusions honoured`(encoder: HistoryEncoderKind, precision: CatalogueScan.Precision) throws {
        let m = try Self.model(encoder: encoder)
        var recall = CatalogueRecall(model: m, precision: precision)
        var out: [(row: Int32, score: Float)] = []
        let cases: [([Int32], [Int32], Int)] = [([3, 9, 27, 5, 11], [9, 0], 10), ([], [], 7), ([1], [1, 2, 3], 40), ([2, 2], [], 1)]
        for (history, excluded, n) in cases {
            recall.recall(history: history, excluding: excluded, n: n, into: &out)
            let expected = Self.reference(m, history: history, excluded: Set(excluded), n: n)
            #expect(out.map(\.row) == expected, "history \(history)")
            #expect(out.count == min(n, m.index.count - Set(excluded).count))
            for (row, score) in out {
                let dot = (0..<m.index.dimension).reduce(Float(0)) { $0 + recall.lastQuery[0, $1] * m.index.embeddings[Int(row), $1] }
                #expect(abs(dot - score) < 1e-5)
            }
        }
    }
}
