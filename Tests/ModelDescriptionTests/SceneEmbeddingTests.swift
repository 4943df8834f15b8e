import Foundation
import ModelMath
import Testing
@testable import ModelDescription

/// Scene-private embeddings (`scene_embedding: private | shared_and_private`): a feature's keys
/// depend on the row's scene.
@Suite struct SceneEmbeddingTests {
    static let yaml = """
        task_key: user_id
        scene: page
        features:
          - {name: user_id, kind: categorical}
          - {name: item_id, kind: categorical, scene_embedding: private}
          - {name: genres, kind: multi_categorical, scene_embedding: private}
          - {name: page, kind: categorical}
          - {name: age, kind: numeric, normalization: none}
        labels:
          - {name: like, kind: binary}
        """

    /// `fmix64(key ⊕ scene · 0x9E3779B97F4A7C15)` written out plainly, independent of ``FeatureKey``.
    static func referenceScoped(_ key: UInt64, _ scene: UInt64) -> UInt64 {
        var h = key ^ (scene &* 11_400_714_819_323_198_485)
        h ^= h >> 33
        h = h &* 0xff51afd7ed558ccd
        h ^= h >> 33
        h = h &* 0xc4ceb9fe1a85ec53
        h ^= h >> 33
        return h
    }

    @Test func `scene_embedding parses per feature and round-trips through YAML`() throws {
        let config = try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml")
        #expect(config.features.map(\.sceneEmbedding) == [.shared, .private, .private, .shared, .shared])
        #expect(config.yamlString().components(separatedBy: "scene_embedding: private").count == 3)
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
        let both = try ModelConfig.parse(yaml: Self.yaml.replacingOccurrences(of: "private}", with: "shared_and_private}"), source: "t")
        #expect(both.features.map(\.sceneEmbedding) == [.shared, .sharedAndPrivate, .sharedAndPrivate, .shared, .shared])
        #expect(try ModelConfig.parse(yaml: both.yamlString(), source: "round-trip") == both)
        // Each shared_and_private feature adds a private block after its kind's features: D grows by 2d.
        #expect(both.categoricalFeatures.map(\.name) == ["user_id", "item_id", "page", "item_id"])
        #expect(both.categoricalFeatures.map(\.sceneEmbedding) == [.shared, .sharedAndPrivate, .shared, .private])
        #expect(both.multiCategoricalFeatures.map(\.sceneEmbedding) == [.sharedAndPrivate, .private])
        #expect(both.inputWidth == config.inputWidth + 2 * config.model.embeddingDimension)
        #expect(both.sceneCategoricalIndex == 2 && both.inputLayout.categoricalCount == 4)
        // The Codable form reads a feature written before the key existed.
        let old = try JSONDecoder().decode(ModelConfig.Feature.self, from: Data(#"{"name": "x", "kind": {"categorical": {}}}"#.utf8))
        #expect(old == .init(name: "x", kind: .categorical))
        let feature = ModelConfig.Feature(name: "y", kind: .categorical, sceneEmbedding: .sharedAndPrivate)
        #expect(try JSONDecoder().decode(ModelConfig.Feature.self, from: JSONEncoder().encode(feature)) == feature)
    }

    @Test(arguments: [
        // (edit, key path named, words of the reason)
        ("scene: page\n", "features[1].scene_embedding", "no top-level scene"),
        ("{name: page, kind: categorical}", "features[3].scene_embedding", "scene column itself"),
        ("{name: age, kind: numeric, normalization: none}", "features[4].scene_embedding", "not a setting of kind numeric"),
        ("scene_embedding: private}\n  - {name: genres", "features[1].scene_embedding", "one of shared | private | shared_and_private"),
    ])
    func `a bad scene_embedding is refused, naming the feature`(edit: String, keyPath: String, reason: String) {
        var yaml = Self.yaml
        switch edit {
        case "scene: page\n": yaml = yaml.replacingOccurrences(of: edit, with: "")
        case "scene_embedding: private}\n  - {name: genres":
            yaml = yaml.replacingOccurrences(of: edit, with: "scene_embedding: yes}\n  - {name: genres")
        default: yaml = yaml.replacingOccurrences(of: edit, with: edit.dropLast() + ", scene_embedding: shared_and_private}")
        }
        #expect {
            try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        } throws: { error in
            switch error {
            case ConfigError.invalidValue(_, let path, _, let why): return path == keyPath && why.contains(reason)
            case ConfigError.wrongType(_, let path, _, let expected, _): return path == keyPath && expected == reason
            default: return false
            }
        }
    }

    /// Four rows (two users, two items, two scenes) of a config from ``yaml`` with `edit` applied.
    static let rows = [("u1", "i7", "x|y", "home"), ("u1", "i7", "x|y", "search"), ("u2", "i7", "y", "home"), ("u2", "i8", "", "search")]

    /// ``rows`` encoded by name (the CSV path: parseRow, then append), and checked equal to the
    /// same rows encoded typed row by row and (rows 0 and 1, which differ only in their scene) by
    /// columns with constant user and item.
    func encodedOnEveryPath(_ config: ModelConfig) throws -> EncodedBatch {
        let encoder = try FeatureEncoder(config: config, statistics: NumericStatistics())
        let n = encoder.columns.count
        let rows = Self.rows.map { user, item, genres, page in
            let byName = ["user_id": user, "item_id": item, "genres": genres, "page": page, "age": "3", "like": "1"]
            return encoder.columns.map { byName[$0]! }
        }
        var byName = encoder.makeBatch(), scratch = FeatureEncoder.Scratch()
        for r in rows { try encoder.encode(row: Dictionary(uniqueKeysWithValues: zip(encoder.columns, r)), into: &byName, scratch: &scratch) }
        let texts = rows.flatMap { $0.map { Array($0.utf8) } }
        var typedRows = encoder.makeBatch(), byColumns = encoder.makeBatch()
        try withRawBuffers(texts) { raws in
            let fields = raws.map { FeatureEncoder.Field.text($0) }
            try fields.withUnsafeBufferPointer { f in
                for r in 0..<rows.count {
                    try encoder.encodeRow(typed: UnsafeBufferPointer(rebasing: f[(r * n)..<(r * n + n)]), into: &typedRows)
                }
            }
            let slotMajor = (0..<n).flatMap { s in (0..<2).map { fields[$0 * n + s] } }
            let failure = slotMajor.withUnsafeBufferPointer { sm in
                let columns = (0..<n).map { s -> FeatureEncoder.FieldColumn in
                    encoder.columns[s] == "page" ? .values(sm.baseAddress! + s * 2) : .constant(fields[s])
                }
                return columns.withUnsafeBufferPointer { encoder.encodeColumns($0, rows: 2, into: &byColumns) }
            }
            #expect(failure == nil)
        }
        #expect(typedRows == byName)
        #expect(byColumns == byName.selecting(rows: 0..<2))
        return byName
    }

    static func hash(_ f: String, _ v: String) -> UInt64 { FeatureKey.hash(feature: f, value: v) }

    /// The reference keys of ``rows``' row `b`: (scene, shared item, scoped item, shared genres, scoped genres).
    static func reference(row b: Int) -> (scene: UInt64, item: UInt64, privateItem: UInt64, genres: [UInt64], privateGenres: [UInt64]) {
        let (_, item, genres, page) = rows[b]
        let scene = hash("page", page), shared = genres.split(separator: "|").map { hash("genres", String($0)) }
        return (scene, hash("item_id", item), referenceScoped(hash("item_id", item), scene), shared, shared.map { referenceScoped($0, scene) })
    }

    @Test func `private keys are the shared keys scoped by the row's scene, on every encoding path`() throws {
        let batch = try encodedOnEveryPath(try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml"))
        #expect(batch.categoricalWidth == 3 && batch.multiCategoricalWidth == 1)
        for b in 0..<Self.rows.count {
            let r = Self.reference(row: b)
            // Categorical blocks: user_id, item_id (private), page.
            #expect(batch.categorical[b * 3 + 0] == Self.hash("user_id", Self.rows[b].0))
            #expect(batch.categorical[b * 3 + 1] == r.privateItem)
            #expect(batch.categorical[b * 3 + 2] == r.scene)
            #expect(Array(batch.multiCategorical[0].keys(ofRow: b)) == r.privateGenres)
        }
        // The same item: one key within a scene, different keys across scenes.
        #expect(batch.categorical[0 * 3 + 1] == batch.categorical[2 * 3 + 1])
        #expect(batch.categorical[0 * 3 + 1] != batch.categorical[1 * 3 + 1])
    }

    @Test func `shared_and_private keeps the shared key and adds the scoped one in its own block, on every encoding path`() throws {
        let yaml = Self.yaml.replacingOccurrences(of: "scene_embedding: private}", with: "scene_embedding: shared_and_private}")
        let batch = try encodedOnEveryPath(try ModelConfig.parse(yaml: yaml, source: "test.yaml"))
        #expect(batch.categoricalWidth == 4 && batch.multiCategoricalWidth == 2)
        for b in 0..<Self.rows.count {
            let r = Self.reference(row: b)
            // Categorical blocks: user_id, item_id (shared), page, item_id (private).
            #expect(batch.categorical[b * 4 + 0] == Self.hash("user_id", Self.rows[b].0))
            #expect(batch.categorical[b * 4 + 1] == r.item)
            #expect(batch.categorical[b * 4 + 2] == r.scene)
            #expect(batch.categorical[b * 4 + 3] == r.privateItem)
            #expect(Array(batch.multiCategorical[0].keys(ofRow: b)) == r.genres)
            #expect(Array(batch.multiCategorical[1].keys(ofRow: b)) == r.privateGenres)
        }
    }

    /// Calls `body` with one raw buffer per byte array, all alive for the call.
    private func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        let joined = arrays.flatMap { $0 }
        var starts: [Int] = [], offset = 0
        for a in arrays { starts.append(offset); offset += a.count }
        return try joined.withUnsafeBytes { raw in
            try body(arrays.indices.map { UnsafeRawBufferPointer(rebasing: raw[starts[$0]..<(starts[$0] + arrays[$0].count)]) })
        }
    }
}
