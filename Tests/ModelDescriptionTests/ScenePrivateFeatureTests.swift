import Foundation
import ModelMath
import Testing
@testable import ModelDescription

/// Scene-private embeddings (`scene_private: true`): a feature's keys depend on the row's scene.
@Suite struct ScenePrivateFeatureTests {
    static let yaml = """
        task_key: user_id
        scene: page
        features:
          - {name: user_id, kind: categorical}
          - {name: item_id, kind: categorical, scene_private: true}
          - {name: genres, kind: multi_categorical, scene_private: true}
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

    @Test func `scene_private parses per feature and round-trips through YAML`() throws {
        let config = try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml")
        #expect(config.features.map(\.scenePrivate) == [false, true, true, false, false])
        #expect(config.yamlString().components(separatedBy: "scene_private: true").count == 3)
        #expect(try ModelConfig.parse(yaml: config.yamlString(), source: "round-trip") == config)
        // The Codable form reads a feature written before the key existed.
        let old = try JSONDecoder().decode(ModelConfig.Feature.self, from: Data(#"{"name": "x", "kind": {"categorical": {}}}"#.utf8))
        #expect(old == .init(name: "x", kind: .categorical))
        let feature = ModelConfig.Feature(name: "y", kind: .categorical, scenePrivate: true)
        #expect(try JSONDecoder().decode(ModelConfig.Feature.self, from: JSONEncoder().encode(feature)) == feature)
    }

    @Test(arguments: [
        // (edit, key path named, words of the reason)
        ("scene: page\n", "features[1].scene_private", "no top-level scene"),
        ("{name: page, kind: categorical}", "features[3].scene_private", "scene column itself"),
        ("{name: age, kind: numeric, normalization: none}", "features[4].scene_private", "not a setting of kind numeric"),
        ("scene_private: true}\n  - {name: genres", "features[1].scene_private", "bool"),
    ])
    func `a bad scene_private is refused, naming the feature`(edit: String, keyPath: String, reason: String) {
        var yaml = Self.yaml
        switch edit {
        case "scene: page\n": yaml = yaml.replacingOccurrences(of: edit, with: "")
        case "scene_private: true}\n  - {name: genres": yaml = yaml.replacingOccurrences(of: edit, with: "scene_private: often}\n  - {name: genres")
        default: yaml = yaml.replacingOccurrences(of: edit, with: edit.dropLast() + ", scene_private: true}")
        }
        #expect {
            try ModelConfig.parse(yaml: yaml, source: "test.yaml")
        } throws: { error in
            guard case ConfigError.invalidValue(_, let path, _, let why) = error else {
                if case ConfigError.wrongType(_, let path, _, _, _) = error { return path == keyPath && reason == "bool" }
                return false
            }
            return path == keyPath && why.contains(reason)
        }
    }

    @Test func `private keys are the shared keys scoped by the row's scene, on every encoding path`() throws {
        let config = try ModelConfig.parse(yaml: Self.yaml, source: "test.yaml")
        let encoder = try FeatureEncoder(config: config, statistics: NumericStatistics())
        let n = encoder.columns.count
        func values(_ user: String, _ item: String, _ genres: String, _ page: String) -> [String] {
            let byName = ["user_id": user, "item_id": item, "genres": genres, "page": page, "age": "3", "like": "1"]
            return encoder.columns.map { byName[$0]! }
        }
        let rows = [values("u1", "i7", "x|y", "home"), values("u1", "i7", "x|y", "search"),
                    values("u2", "i7", "y", "home"), values("u2", "i8", "", "search")]

        // By name (the CSV reader's parseRow + append path).
        var byName = encoder.makeBatch(), scratch = FeatureEncoder.Scratch()
        for r in rows { try encoder.encode(row: Dictionary(uniqueKeysWithValues: zip(encoder.columns, r)), into: &byName, scratch: &scratch) }

        let hash = { (f: String, v: String) in FeatureKey.hash(feature: f, value: v) }
        for (b, r) in rows.enumerated() {
            let value = Dictionary(uniqueKeysWithValues: zip(encoder.columns, r))
            let scene = hash("page", value["page"]!)
            // Categorical order: user_id, item_id, page; only item_id is scoped.
            #expect(byName.categorical[b * 3 + 0] == hash("user_id", value["user_id"]!))
            #expect(byName.categorical[b * 3 + 1] == Self.referenceScoped(hash("item_id", value["item_id"]!), scene))
            #expect(byName.categorical[b * 3 + 2] == scene)
            let genres = value["genres"]!.split(separator: "|").map { Self.referenceScoped(hash("genres", String($0)), scene) }
            #expect(Array(byName.multiCategorical[0].keys(ofRow: b)) == genres)
        }
        // The same item: one key within a scene, different keys across scenes.
        #expect(byName.categorical[0 * 3 + 1] == byName.categorical[2 * 3 + 1])
        #expect(byName.categorical[0 * 3 + 1] != byName.categorical[1 * 3 + 1])

        // Typed row by row, and by columns (constant user and item, per-row page), give the same batch.
        let texts = rows.flatMap { $0.map { Array($0.utf8) } }
        var typedRows = encoder.makeBatch(), byColumns = encoder.makeBatch()
        try withRawBuffers(texts) { raws in
            let fields = raws.map { FeatureEncoder.Field.text($0) }
            try fields.withUnsafeBufferPointer { f in
                for r in 0..<rows.count {
                    try encoder.encodeRow(typed: UnsafeBufferPointer(rebasing: f[(r * n)..<(r * n + n)]), into: &typedRows)
                }
            }
            // Rows 0 and 1 share everything but the scene: encode them by columns with constants.
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
